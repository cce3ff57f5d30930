"""Refusals of the dispatch packages and their launches. Each names what the learner or HR can do."""

from __future__ import annotations

from training_app.errors import N_, DomainError


class LaunchRefused(DomainError):
    """A package's launch request that is refused: nothing is recorded for anyone."""

    status = 400
    code = "launch_refused"
    title = N_("We could not open your training")


class PackageRevoked(LaunchRefused):
    status = 410
    code = "package_revoked"
    title = N_("This training package no longer works")


class UnknownPackage(LaunchRefused):
    status = 404
    code = "unknown_package"


class BadSignature(LaunchRefused):
    status = 401
    code = "bad_signature"


class StaleLaunch(LaunchRefused):
    code = "stale_launch"


class ReplayedLaunch(LaunchRefused):
    status = 409
    code = "replayed_launch"


class NoLearnerId(LaunchRefused):
    code = "no_learner_id"


class LaunchExpired(DomainError):
    status = 401
    code = "launch_expired"
    title = N_("Please start from your LMS")
