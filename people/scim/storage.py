"""Where scim2-server reads and writes Users: the tenant's people, through the employee rules the
CSV import and the REST API use (people.employees, people.importing). Services flush and never
commit: the request's one transaction is committed on success and rolled back on an error, so a
refused write leaves nothing behind.

- POST creates an employee, or takes over the person HR already has with that employee id (a CSV
  import, the REST API) or the LMS learner with that email, when no identity provider has them
  yet; someone a provider already manages is a 409.
- PUT and PATCH change them by the same rules: an email or userName of another person is a 409.
- active=false makes them a leaver today (their assignments end and stay in their history);
  active=true re-activates them.
- DELETE makes them a leaver and hides them from SCIM (404), keeping their row and history; a
  later POST with their employee id brings the same person back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from scim2_models import (
    InvalidValueException,
    NotFoundException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import Select, and_, func, select
from sqlalchemy.exc import IntegrityError

from people import employees
from people.employees import EmployeeRecord
from people.importing import check_record
from people.models import ScimAccount
from people.scim import filters, mapping
from people.scim.resources import EMPLOYEE, EnterpriseUser
from training_app import audit
from training_app.db import utcnow
from training_app.edge import check_text
from training_app.errors import Conflict, DomainError
from training_app.extensions import db
from training_app.models import User

USER_NAME_LIMIT = 320
EXTERNAL_ID_LIMIT = 255


class EmployeeStorage(ScimStorage):
    """One tenant's people, for one request of one API token (`actor`, "token:<id>")."""

    def __init__(self, tenant_id: int, actor: str, today: date | None = None) -> None:
        self.tenant_id = tenant_id
        self.actor = actor
        self.today = today or utcnow().date()

    # -- reading ----------------------------------------------------------------------------

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        user, account = self._visible(resource_id)
        return self._resource(user, account)

    def search(
        self, resource_types: list[ResourceType], search_request: SearchRequest[Any], *, position: Any = None
    ) -> SearchPage:
        condition = self._visible_condition()
        if search_request.filter is not None:
            scim_filter = self._bound(search_request.filter)
            condition = and_(condition, filters.condition(scim_filter, self.tenant_id, self.today))
        total = db.session.scalar(self._people(select(func.count())).where(condition))
        rows: list[tuple[User, ScimAccount | None]] = []
        if search_request.count != 0:
            query = self._people(select(User, ScimAccount)).where(condition).order_by(User.id)
            query = query.offset(search_request.start_index_0 or 0).limit(search_request.count)
            rows = [(user, account) for user, account in db.session.execute(query)]
        managers = self._manager_ids({user.manager_email for user, _ in rows if user.manager_email})
        return SearchPage(total or 0, [self._resource(user, account, managers) for user, account in rows])

    # -- writing ----------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        with _as_scim_errors():
            record = self._record(resource, None)
            known = self._person_with_employee_id(record.employee_id)
            if known is not None and self._is_provisioned(known):
                raise UniquenessException(
                    detail=f"employeeNumber {record.employee_id} is already User {known.id}: "
                    "match users on it (or on userName) instead of creating them again"
                )
            if known is not None:  # HR's person: what SCIM does not carry (the hire date) is kept
                record = self._record(resource, known)
            saved = employees.save_employee(
                self.tenant_id, record, actor=self.actor, person=known, blanks_clear=True
            )
            account = self._link(saved.user, resource)
            return self._resource(saved.user, account)

    def update(
        self, resource_type: ResourceType, resource: Resource[Any], *, expected_version: str | None = None
    ) -> Resource[Any]:
        with _as_scim_errors():
            user, _account = self._visible(str(resource.id))
            if expected_version is not None and expected_version != mapping.version_of(user):
                raise PreconditionFailedException(detail="The User changed meanwhile; read it again")
            record = self._record(resource, user)
            other = self._person_with_employee_id(record.employee_id)
            if other is not None and other.id != user.id:
                raise UniquenessException(
                    detail=f"employeeNumber {record.employee_id} belongs to another User ({other.id})"
                )
            employees.save_employee(self.tenant_id, record, actor=self.actor, person=user, blanks_clear=True)
            account = self._link(user, resource)
            return self._resource(user, account)

    def delete(
        self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None
    ) -> None:
        with _as_scim_errors():
            user, account = self._visible(resource_id)
            if expected_version is not None and expected_version != mapping.version_of(user):
                raise PreconditionFailedException(detail="The User changed meanwhile; read it again")
            if user.employee_id and mapping.is_active(user, self.today):
                last_day = mapping.end_date_for(False, user, self.today)
                employees.save_employee(
                    self.tenant_id, _record_of(user, end_date=last_day), actor=self.actor, person=user
                )
            account = account or self._new_account(user)
            account.user_name = account.external_id = None  # free for someone else
            account.deleted_at = user.updated_at = utcnow()
            db.session.flush()
            audit.record_event(self.tenant_id, self.actor, "scim_account.deleted", subject=("user", user.id))

    # -- the person and their account ---------------------------------------------------------

    def _people(self, query: Select) -> Select:
        return query.select_from(User).outerjoin(ScimAccount, ScimAccount.user_id == User.id)

    def _visible_condition(self):
        """The tenant's people with an email (every SCIM User has one), but those SCIM deleted."""
        return and_(
            User.tenant_id == self.tenant_id, User.email.is_not(None), ScimAccount.deleted_at.is_(None)
        )

    def _visible(self, resource_id: str) -> tuple[User, ScimAccount | None]:
        if not resource_id.isdigit() or int(resource_id) > 2**31 - 1:
            raise NotFoundException(detail=f"No User {resource_id!r}")
        query = self._people(select(User, ScimAccount)).where(
            self._visible_condition(), User.id == int(resource_id)
        )
        row = db.session.execute(query).first()
        if row is None:
            raise NotFoundException(detail=f"No User {resource_id!r}")
        return row[0], row[1]

    def _person_with_employee_id(self, employee_id: str) -> User | None:
        return db.session.scalar(
            select(User).where(User.tenant_id == self.tenant_id, User.employee_id == employee_id)
        )

    @staticmethod
    def _is_provisioned(user: User) -> bool:
        account = db.session.get(ScimAccount, user.id)
        return account is not None and account.deleted_at is None

    def _record(self, resource: Resource[Any], user: User | None) -> EmployeeRecord:
        manager_email = self._manager_email(resource, user)
        return check_record(mapping.employee_values(resource, user, manager_email, self.today))

    def _manager_email(self, resource: Resource[Any], user: User | None) -> str | None:
        enterprise = resource[EnterpriseUser]
        manager_id = enterprise.manager.value if enterprise and enterprise.manager else None
        if not manager_id:
            return None
        if user is not None and manager_id == str(user.id):
            raise InvalidValueException(detail="A person cannot be their own manager")
        try:
            manager, _account = self._visible(manager_id)
        except NotFoundException:
            raise InvalidValueException(
                detail=f"manager {manager_id!r} is not a User here: create the manager first"
            ) from None
        if not manager.email:
            raise InvalidValueException(detail=f"manager {manager_id} has no email")
        return manager.email

    def _link(self, user: User, resource: Resource[Any]) -> ScimAccount:
        """The provider's userName and externalId for the person; audited when they change."""
        user_name, external_id = resource.user_name, resource.external_id
        check_text({"userName": user_name, "externalId": external_id})
        if len(user_name or "") > USER_NAME_LIMIT or len(external_id or "") > EXTERNAL_ID_LIMIT:
            raise InvalidValueException(
                detail=f"userName is {USER_NAME_LIMIT} characters at most, externalId {EXTERNAL_ID_LIMIT}"
            )
        self._refuse_taken_user_name(user_name or "", user)
        account = db.session.get(ScimAccount, user.id)
        linked = account is not None and account.deleted_at is None
        before = (account.user_name, account.external_id) if linked else (None, None)
        account = account or self._new_account(user)
        account.user_name, account.external_id, account.deleted_at = user_name, external_id, None
        if linked and before == (user_name, external_id):
            return account
        user.updated_at = utcnow()  # the resource's lastModified and version
        try:
            db.session.flush()
        except IntegrityError:  # a concurrent request took the userName
            raise UniquenessException(detail=f"userName {user_name!r} is taken") from None
        audit.record_event(
            self.tenant_id,
            self.actor,
            "scim_account.changed" if linked else "scim_account.linked",
            subject=("user", user.id),
            data={"userName": [before[0], user_name], "externalId": [before[1], external_id]},
        )
        return account

    def _new_account(self, user: User) -> ScimAccount:
        account = ScimAccount(user_id=user.id, tenant_id=self.tenant_id)
        db.session.add(account)
        return account

    def _refuse_taken_user_name(self, user_name: str, user: User) -> None:
        taken_by = db.session.scalar(
            self._people(select(User.id))
            .where(self._visible_condition(), User.id != user.id)
            .where(filters.user_name_equals(self.tenant_id, user_name))
            .limit(1)
        )
        if taken_by is not None:
            raise UniquenessException(detail=f"userName {user_name!r} belongs to another User ({taken_by})")

    def _resource(
        self, user: User, account: ScimAccount | None, managers: dict[str, int] | None = None
    ) -> Resource[Any]:
        if managers is None:
            managers = self._manager_ids({user.manager_email} if user.manager_email else set())
        manager_id = managers.get((user.manager_email or "").lower())
        visible_account = account if account is not None and account.deleted_at is None else None
        return mapping.to_resource(user, visible_account, manager_id, self.today)

    def _manager_ids(self, emails: set[str]) -> dict[str, int]:
        """Email -> the id of the person with it (the employee, when an LMS learner shares it)."""
        if not emails:
            return {}
        query = (
            self._people(select(func.lower(User.email), User.id))
            .where(self._visible_condition(), func.lower(User.email).in_(sorted(e.lower() for e in emails)))
            .order_by(User.employee_id.is_(None), User.id)
        )
        found: dict[str, int] = {}
        for email, user_id in db.session.execute(query):
            found.setdefault(email, user_id)
        return found

    @staticmethod
    def _bound(scim_filter: ScimFilter) -> ScimFilter:
        return scim_filter if scim_filter.models else ScimFilter[EMPLOYEE](str(scim_filter))


def _record_of(user: User, **changes: Any) -> EmployeeRecord:
    values = {name: getattr(user, name) for name in employees.EMPLOYEE_FIELDS}
    return EmployeeRecord(**{**values, **changes})


@contextmanager
def _as_scim_errors() -> Iterator[None]:
    """The employee rules' refusals as SCIM errors (RFC 7644 §3.12): 409 uniqueness, else 400."""
    try:
        yield
    except Conflict as refused:
        raise UniquenessException(detail=_detail(refused)) from None
    except DomainError as refused:
        raise InvalidValueException(detail=_detail(refused)) from None


def _detail(refused: DomainError) -> str:
    return refused.message
