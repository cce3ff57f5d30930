"""`userName eq` goes through indexes (people.scim.filters.user_name_equals): it finds exactly the
people the plain reading finds (`lower(coalesce(provider's userName, email)) = lower(value)`),
whatever the case, for people a provider named, people it did not, deleted ones and another
tenant's. Both databases."""

from __future__ import annotations

from sqlalchemy import and_, func, select

from people.models import ScimAccount
from people.scim import filters
from people.scim.storage import EmployeeStorage
from tests import factories
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import User


def _person(
    tenant, email: str | None, name: str, user_name: str | None = None, deleted: bool = False
) -> User:
    user = factories.learner(tenant, name, subject=name.lower().replace(" ", "-"))
    user.email = email
    db.session.flush()
    if user_name is not None or deleted:
        account = ScimAccount(user_id=user.id, tenant_id=tenant.id, user_name=user_name)
        account.deleted_at = utcnow() if deleted else None
        db.session.add(account)
        db.session.flush()
    return user


def test_user_name_eq_finds_what_the_plain_reading_finds(app):
    with app.app_context():
        acme, globex = factories.tenant("acme"), factories.tenant("globex", "Globex")
        _person(acme, "ann@acme.example", "Ann Lee")  # from HR: the email is the userName
        _person(acme, "Mixed.Case@Acme.example", "Mo Case")  # an LMS learner, as the LMS spelt it
        _person(acme, "jo@acme.example", "Jo Doe", user_name="JDoe@IdP.example")
        _person(acme, "gone@acme.example", "Al Gone", deleted=True)
        _person(acme, None, "No Email")
        _person(
            acme, "ann.lee@acme.example", "Ann Other", user_name="ann@acme.example"
        )  # a clash HR never allows
        _person(globex, "ann@acme.example", "Ann Globex")
        storage = EmployeeStorage(acme.id, "test")
        candidates = [
            "ann@acme.example",
            "ANN@ACME.EXAMPLE",
            "mixed.case@acme.example",
            "MIXED.CASE@ACME.EXAMPLE",
            "jdoe@idp.example",
            "jo@acme.example",  # named by the provider: no longer their userName
            "gone@acme.example",
            "ann.lee@acme.example",
            "no-email",
            "nobody@acme.example",
            "",
        ]
        found_some = 0
        for candidate in candidates:
            plain = func.lower(filters.user_name_column()) == candidate.lower()
            fast = filters.user_name_equals(acme.id, candidate)
            ids = [
                set(
                    db.session.scalars(
                        storage._people(select(User.id)).where(and_(storage._visible_condition(), condition))
                    )
                )
                for condition in (plain, fast)
            ]
            assert ids[0] == ids[1], candidate
            found_some += bool(ids[0])
        assert found_some == 5
        db.session.rollback()
