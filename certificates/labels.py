"""What a certificate prints around its data, in each language it prints in: labels and dates.

A certificate prints in its own language (its `locale`, the language its course title is in),
whoever downloads it, and rendering needs no Flask app: so its labels are here, not in the
Flask-Babel catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel.dates import format_date


@dataclass(frozen=True)
class Labels:
    title: str
    certifies: str
    completed: str
    policy_version: str
    completed_on: str
    valid_until: str
    no_expiry: str
    score: str
    certificate_no: str
    verify_at: str
    issued_by: str


LABELS = {
    "en": Labels(
        title="Certificate of Completion",
        certifies="This certifies that",
        completed="has successfully completed",
        policy_version="Policy version",
        completed_on="Completed on",
        valid_until="Valid until",
        no_expiry="No expiry",
        score="Score",
        certificate_no="Certificate no.",
        verify_at="Verify at",
        issued_by="Issued by",
    ),
    "es": Labels(
        title="Certificado de finalización",
        certifies="Se certifica que",
        completed="ha completado satisfactoriamente",
        policy_version="Versión de la política",
        completed_on="Completado el",
        valid_until="Válido hasta",
        no_expiry="Sin caducidad",
        score="Puntuación",
        certificate_no="Certificado n.º",
        verify_at="Verifíquelo en",
        issued_by="Emitido por",
    ),
    "fr": Labels(
        title="Certificat de réussite",
        certifies="Nous certifions que",
        completed="a suivi avec succès la formation",
        policy_version="Version de la politique",
        completed_on="Terminé le",
        valid_until="Valable jusqu’au",
        no_expiry="Sans expiration",
        score="Score",
        certificate_no="Certificat n°",
        verify_at="Vérifier sur",
        issued_by="Délivré par",
    ),
    "de": Labels(
        title="Teilnahmezertifikat",
        certifies="Hiermit wird bestätigt, dass",
        completed="erfolgreich abgeschlossen hat:",
        policy_version="Richtlinienversion",
        completed_on="Abgeschlossen am",
        valid_until="Gültig bis",
        no_expiry="Unbefristet",
        score="Ergebnis",
        certificate_no="Zertifikat-Nr.",
        verify_at="Prüfen unter",
        issued_by="Ausgestellt von",
    ),
    "pt": Labels(
        title="Certificado de conclusão",
        certifies="Certificamos que",
        completed="concluiu com êxito",
        policy_version="Versão da política",
        completed_on="Concluído em",
        valid_until="Válido até",
        no_expiry="Sem data de validade",
        score="Pontuação",
        certificate_no="Certificado n.º",
        verify_at="Verifique em",
        issued_by="Emitido por",
    ),
}
DEFAULT_LOCALE = "en"


def language_of(locale: str) -> str:
    """'es-MX' and 'es_MX' print with Spanish labels; a language without labels prints in English."""
    language = locale.replace("_", "-").split("-")[0].lower()
    return language if language in LABELS else DEFAULT_LOCALE


def long_date(day: date, locale: str) -> str:
    return format_date(day, format="long", locale=language_of(locale))
