"""Completion exports at a million rows, and the slowest console page at 100,000 employees.

For each database (PostgreSQL, then SQLite) in one run:
1. a database of its own (PostgreSQL: `postwise_bench_export`, dropped at the end; SQLite: a
   temporary file), migrated, with the courses published, and two tenants generated in SQL
   (INSERT ... SELECT over generate_series / a recursive CTE): `export` with --rows assignments
   (half as many employees, two courses each) and `console` with --console-employees employees
   (two courses each). Every status is there: passed with a certificate (some expiring soon,
   some expired), failed, started, overdue, not started, waived; a tenth launched from an LMS;
2. the CSV export of every `export` row over HTTP from gunicorn (one sync worker on 127.0.0.1,
   signed in as the tenant's auditor), against the database's own CSV writer on the same SELECT
   (the one the app builds, parameters written in): `psql -c "\\copy (...) TO STDOUT CSV"` and
   `sqlite3 -csv`; best of --rounds each, alternating. Ratio = baseline seconds / ours (1.0x: as
   fast as psql). Aims: >= 1.0x psql, >= 0.5x sqlite3, the worker's peak memory (VmHWM) < 150 MB;
3. the dashboard and /console/learners of the `console` tenant with filters, sorts and deep pages, in process
   (Flask's test client, no HTTP), median of three, with the SQL statements each page ran.

    .venv/bin/python bench/export.py [--rows 1000000] [--console-employees 100000]
        [--backend postgresql|sqlite|both] [--rounds 2] [--keep]

Needs the local PostgreSQL (127.0.0.1:5432, user postgres, trust auth), `psql` and `sqlite3`.
Traffic goes to 127.0.0.1 only. About ten minutes for both databases.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from flask import Flask
from harness.database import DEFAULT_URL, raw_dsn, recreate_database
from sqlalchemy import event, text

from reports import completions
from reports.exports import driver_statement, export_query
from reports.filters import CompletionFilter
from training_app import create_app
from training_app.auth import services as accounts
from training_app.extensions import db

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.now(UTC).replace(microsecond=0)  # statuses are computed against the clock
PASSWORD = "bench-password-2027!"
COURSES = ("social-media-orientation", "social-media-refresher")
PUBLIC_URL = "https://training.example.com"
CONSOLE_PAGES = (
    "/console/",  # the dashboard: every tally over every assignment
    "/console/learners",
    "/console/learners?page={last_page}",
    "/console/learners?status=overdue",
    "/console/learners?status=completed&sort=-completed&page=200",
    "/console/learners?sort=-expires&page=1000",
    "/console/learners?sort=status&page=2000",
    "/console/learners?department=Department+7&sort=due",
    "/console/learners?manager=e5%40console.example",
    "/console/learners?q=employee+00012",
    "/console/learners?version=1&completed_from=2026-06-01&completed_to=2026-12-31&sort=-score",
    "/console/learners?status=expiring_soon&sort=name&page=20",
)


# --- the data -------------------------------------------------------------------------------------


def _series(dialect: str) -> str:
    if dialect == "postgresql":
        return "generate_series(1, :n) AS series(i)"
    return (
        "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)"
        " SELECT i FROM s) AS series"
    )


def _days_before_now(dialect: str, days: str) -> str:
    """NOW minus `days` (an SQL expression) days, as each database stores a timestamp."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamptz) - make_interval(days => ({days})))"
    return f"(strftime('%Y-%m-%d %H:%M:%S', :now, printf('%+d days', -({days}))) || '.000000')"


def _pad(dialect: str, number: str) -> str:
    return f"lpad(({number})::text, 7, '0')" if dialect == "postgresql" else f"printf('%07d', {number})"


def populate(dialect: str, tenant_id: int, slug: str, employees: int) -> None:
    """Employees with two assignments each, in every status; by `k = (user id + course id) % 20`:
    0-7 passed (with attestation and certificate; passed `d` days ago, d up to 419: some expired,
    some expiring soon), 8-9 failed, 10-12 started, 13-15 overdue, 16-18 not started, 19 waived;
    every tenth person launched from the tenant's LMS."""
    ago = lambda days: _days_before_now(dialect, days)  # noqa: E731
    key = "((e.user_id + e.course_id) % 20)"
    passed_days = "((e.user_id * 7) % 420)"
    params = {"t": tenant_id, "slug": slug, "n": employees, "now": _now_param(dialect)}
    statements = [
        f"INSERT INTO users (tenant_id, issuer, subject, employee_id, email, name, department,"
        f" manager_email, hire_date, locale, created_at, updated_at)"
        f" SELECT :t, 'hr', 'E' || i, 'E' || {_pad(dialect, 'i')}, 'e' || i || '@' || :slug || '.example',"
        f" 'Employee ' || {_pad(dialect, 'i')}, 'Department ' || (i % 40),"
        f" CASE WHEN i > 100 THEN 'e' || (i % 100 + 1) || '@' || :slug || '.example' END,"
        f" '2025-01-01', 'en', :now, :now FROM {_series(dialect)}",
        f"INSERT INTO enrolments (tenant_id, user_id, course_id, source, cycle, enrolled_at, assigned_at,"
        f" due_at, started_at, waived_at, waived_by, waiver_reason)"
        f" SELECT :t, e.user_id, e.course_id, 'hr', 1, {ago('430')}, {ago('430')},"
        f" CASE WHEN {key} BETWEEN 13 AND 15 THEN {ago(f'{key} - 10')}"
        f" WHEN {key} < 8 THEN {ago(f'{passed_days} - 9')} ELSE {ago('-30')} END,"
        f" CASE WHEN {key} BETWEEN 8 AND 12 THEN {ago('20')} END,"
        f" CASE WHEN {key} = 19 THEN {ago('5')} END, CASE WHEN {key} = 19 THEN 'staff:1' END,"
        f" CASE WHEN {key} = 19 THEN 'On leave' END"
        f" FROM (SELECT users.id AS user_id, courses.id AS course_id FROM users CROSS JOIN courses"
        f" WHERE users.tenant_id = :t AND courses.slug IN {COURSES!r}) AS e",
        f"INSERT INTO attestations (tenant_id, user_id, enrolment_id, cycle, course_version_id, content_hash,"
        f" policy_text_hash, statement, typed_name, locale, attested_at)"
        f" SELECT :t, e.user_id, e.id, 1, v.id, v.content_hash, v.content_hash, 'I have read the policy.',"
        f" 'Employee', 'en', {ago(f'{passed_days} + 1')}"
        f" FROM enrolments AS e JOIN course_versions AS v ON v.course_id = e.course_id"
        f" WHERE e.tenant_id = :t AND {key} < 10",
        f"INSERT INTO completions (tenant_id, user_id, enrolment_id, course_id, course_version_id, cycle,"
        f" status, score, content_hash, attestation_id, completed_at, expires_at)"
        f" SELECT :t, e.user_id, e.id, e.course_id, a.course_version_id, 1,"
        f" CASE WHEN {key} < 8 THEN 'completed' ELSE 'failed' END,"
        f" CASE WHEN {key} < 8 THEN 70 + e.user_id % 31 ELSE 40 END, a.content_hash, a.id,"
        f" {ago(passed_days)}, CASE WHEN {key} < 8 THEN {ago(f'{passed_days} - 365')} END"
        f" FROM attestations AS a JOIN enrolments AS e ON e.id = a.enrolment_id WHERE a.tenant_id = :t",
        "UPDATE enrolments SET completed_at = completions.completed_at, expires_at = completions.expires_at"
        " FROM completions"
        " WHERE completions.enrolment_id = enrolments.id AND completions.status = 'completed'"
        " AND enrolments.tenant_id = :t",
        "INSERT INTO certificates (tenant_id, user_id, completion_id, course_id, course_version_id, code,"
        " credential_id, subject_id, holder_name, holder_email, course_title, course_slug, policy_version,"
        " content_hash, locale, score, completed_at, expires_at, issued_at)"
        " SELECT :t, c.user_id, c.id, c.course_id, c.course_version_id, 'BENCH-' || c.id,"
        " 'urn:bench:' || c.id, 'bench:' || c.user_id, 'Employee', NULL, co.title, co.slug, 'v1',"
        " c.content_hash, 'en', c.score, c.completed_at, c.expires_at, c.completed_at"
        " FROM completions AS c JOIN courses AS co ON co.id = c.course_id"
        " WHERE c.tenant_id = :t AND c.status = 'completed'",
        "INSERT INTO lti_platforms (tenant_id, name, issuer, client_id, auth_login_url, auth_token_url,"
        " key_set_url, created_at) VALUES (:t, 'Moodle', 'https://moodle.' || :slug || '.example',"
        " 'client-' || :slug, 'https://lms.example/auth', 'https://lms.example/token',"
        " 'https://lms.example/jwks', :now)",
        "INSERT INTO lti_resource_links (tenant_id, platform_id, deployment_id, resource_link_id,"
        " course_slug, ags_scopes, updated_at)"
        " SELECT :t, p.id, '1', 'rl-' || c.slug, c.slug, '[]', :now FROM lti_platforms AS p, courses AS c"
        f" WHERE p.tenant_id = :t AND c.slug IN {COURSES!r}",
        "INSERT INTO lti_grade_targets (enrolment_id, resource_link_id, lti_user_id, last_launch_at)"
        " SELECT e.id, rl.id, 'lti-' || e.user_id, :now FROM enrolments AS e"
        " JOIN courses AS c ON c.id = e.course_id"
        " JOIN lti_resource_links AS rl ON rl.tenant_id = e.tenant_id AND rl.course_slug = c.slug"
        " WHERE e.tenant_id = :t AND e.user_id % 10 = 0",
    ]
    for statement in statements:
        db.session.execute(text(statement), params)
    db.session.commit()


def _now_param(dialect: str) -> object:
    return NOW if dialect == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.000000")


def build(url: str, instance: Path, rows: int, console_employees: int) -> Flask:
    """The migrated database with both tenants, each with an auditor; statistics gathered."""
    from flask_migrate import upgrade

    from courses import publishing

    app = create_app(
        {
            "CONFIG": "testing",
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret-key",
            "INSTANCE_PATH": str(instance),
            "PUBLIC_URL": PUBLIC_URL,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade()
        publishing.publish_all(material=True, actor="bench")
        dialect = db.engine.dialect.name
        for slug, employees in (("export", rows // len(COURSES)), ("console", console_employees)):
            tenant = accounts.create_tenant(slug, f"{slug.title()} Corp")
            accounts.create_staff(tenant, f"auditor@{slug}.example", PASSWORD, role="auditor")
            db.session.commit()
            started = time.perf_counter()
            populate(dialect, tenant.id, slug, employees)
            print(f"  {slug}: {employees:,} employees populated in {time.perf_counter() - started:.0f} s")
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    return app


# --- the baselines: the database's own CSV writer on the same SELECT ---------------------------------


def export_sql(app: Flask) -> tuple[str, object]:
    """The SELECT the app's CSV export of every row of `export` runs, and its parameters."""
    with app.app_context(), app.test_request_context(base_url=PUBLIC_URL):
        tenant_id = db.session.scalar(text("SELECT id FROM tenants WHERE slug = 'export'"))
        scope = completions.scope_for(tenant_id, now=datetime.now(UTC))
        query = export_query(scope, CompletionFilter(), for_spreadsheet=True)
        return driver_statement(query, db.engine)


def psql_copy_command(url: str, sql: str, params: dict) -> list[str]:
    with psycopg.connect(raw_dsn(url)) as connection:
        literal = psycopg.ClientCursor(connection).mogrify(sql, params)
    one_line = " ".join(literal.split())
    return [
        "psql",
        raw_dsn(url),
        "-X",
        "-q",
        "-c",
        f"\\copy ({one_line}) TO STDOUT WITH (FORMAT csv, HEADER)",
    ]


def sqlite3_csv_command(path: Path, sql: str, params: tuple) -> list[str]:
    return ["sqlite3", "-csv", "-header", str(path), " ".join(_sqlite_literal_sql(sql, params).split())]


def timed(command: list[str]) -> float:
    """Seconds the command takes to write its CSV to /dev/null (as fast as it can be)."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def digest_of(command: list[str]) -> tuple[str, int]:
    """SHA-256 and line count of the command's output (not timed)."""
    digest, lines = hashlib.sha256(), 0
    with subprocess.Popen(command, stdout=subprocess.PIPE) as running:
        for chunk in iter(lambda: running.stdout.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def _sqlite_literal_sql(sql: str, params: tuple) -> str:
    """`sql` with each `?` outside a quoted string replaced by its parameter, quoted."""
    values = iter(params)

    def quoted(value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, int | float):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    parts = re.split(r"('(?:[^']|'')*')", sql)
    return "".join(
        part if part.startswith("'") else re.sub(r"\?", lambda _: quoted(next(values)), part)
        for part in parts
    )


# --- ours: over HTTP from gunicorn ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(url: str, instance: Path, port: int) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "TRAINING_CONFIG": "production",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "TRAINING_INSTANCE_PATH": str(instance),
        "TRAINING_PUBLIC_URL": PUBLIC_URL,
        "TRAINING_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "600",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/login", timeout=30)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    stop(server)
    sys.exit("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def worker_pid(server: subprocess.Popen) -> int:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return int(children[0])


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the resident high-water mark) of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) // 1024
    return found


def signed_in(port: int, email: str) -> dict[str, str]:
    """The Cookie header of a signed-in session (sent as a header: production's cookies are Secure)."""
    base = f"http://127.0.0.1:{port}"
    page = requests.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in page.cookies)
    answer = requests.post(
        f"{base}/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        headers={"Cookie": cookie},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code in (302, 303), answer.status_code
    session = re.search(r"session=([^;]+)", answer.headers["Set-Cookie"]).group(1)
    return {"Cookie": f"session={session}"}


def http_export(port: int, headers: dict[str, str], *, digest: bool = False) -> tuple[float, int, int, str]:
    """Seconds to download the CSV export; its lines, bytes and (when asked) SHA-256."""
    hashed = hashlib.sha256()
    started = time.perf_counter()
    size = lines = 0
    with requests.get(
        f"http://127.0.0.1:{port}/console/learners/export.csv", headers=headers, stream=True, timeout=600
    ) as answer:
        assert answer.status_code == 200, answer.status_code
        for chunk in answer.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if digest:
                hashed.update(chunk)
    return time.perf_counter() - started, lines, size, hashed.hexdigest()


def reset_peak_memory(pid: int) -> None:
    """Start VmHWM again from the current RSS (signing in hashed a password with 64 MiB)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- console pages, in process ----------------------------------------------------------------------


def console_pages(app: Flask, console_employees: int) -> list[tuple[str, float, int, int]]:
    """(URL, median ms, statements, status) of each console page."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    signed = client.post(
        "/login", data={"csrf_token": token, "email": "auditor@console.example", "password": PASSWORD}
    )
    assert signed.status_code in (302, 303), signed.status_code
    last_page = -(-console_employees * len(COURSES) // completions.PAGE_SIZE)
    measured = []
    for template in CONSOLE_PAGES:
        url = template.format(last_page=last_page)
        times = []
        for _ in range(3):
            statements.clear()
            started = time.perf_counter()
            answer = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        measured.append((url, statistics.median(times), len(statements), answer.status_code))
    return measured


# --- one database -----------------------------------------------------------------------------------


def run(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n== {backend} ==")
    instance = workdir / backend
    instance.mkdir()
    if backend == "postgresql":
        url = args.database_url
        recreate_database(url)
    else:
        sqlite_path = workdir / "bench_export.db"
        url = f"sqlite:///{sqlite_path}"
    try:
        app = build(url, instance, args.rows, args.console_employees)
        sql, params = export_sql(app)
        port = free_port()
        server = start_gunicorn(url, instance, port)
        try:
            headers = signed_in(port, "auditor@export.example")
            worker = worker_pid(server)
            if backend == "postgresql":
                command = psql_copy_command(url, sql, params)
            else:
                command = sqlite3_csv_command(sqlite_path, sql, params)
            ours_check, theirs_check = http_export(port, headers, digest=True), digest_of(command)
            idle = memory_of(worker)
            reset_peak_memory(worker)
            ours, baseline = [], []
            for _ in range(args.rounds):
                ours.append(http_export(port, headers)[0])
                baseline.append(timed(command))
            peak = memory_of(worker)
        finally:
            stop(server)
        tool = "psql \\copy" if backend == "postgresql" else "sqlite3 -csv"
        aim = 1.0 if backend == "postgresql" else 0.5
        same = "byte for byte the same" if ours_check[3] == theirs_check[0] else "not the same bytes"
        mib = ours_check[2] / 2**20
        print(f"  CSV export of {ours_check[1] - 1:,} rows ({mib:.0f} MiB), best of {args.rounds}:")
        print(f"    ours (HTTP, gunicorn)   {min(ours):7.2f} s   (each: {_listed(ours)})")
        print(f"    {tool:<22}  {min(baseline):7.2f} s   (each: {_listed(baseline)})")
        print(f"    ratio {tool} / ours: {min(baseline) / min(ours):.2f}x (aim >= {aim}x)")
        print(f"    {tool} wrote {theirs_check[1] - 1:,} rows, {same} as ours")
        print(
            f"    worker memory: {idle['VmRSS']} MB before the export, peak during it (VmHWM) "
            f"{peak['VmHWM']} MB (aim < 150 MB)"
        )
        print(
            f"  /console/learners of {args.console_employees:,} employees "
            f"({args.console_employees * len(COURSES):,} rows), median of 3, in process:"
        )
        pages = console_pages(app, args.console_employees)
        for url_shown, ms, count, status in pages:
            print(f"    {ms:8.1f} ms  {count:2d} statements  {status}  {url_shown}")
        slowest = max(pages, key=lambda page: page[1])
        print(f"  slowest page: {slowest[0]}: {slowest[1]:.0f} ms, {slowest[2]} statements")
        with app.app_context():
            db.engine.dispose()
    finally:
        if backend == "postgresql" and not args.keep:
            _drop_postgresql(url)


def _listed(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def _drop_postgresql(url: str) -> None:
    admin = raw_dsn(url).rsplit("/", 1)[0] + "/postgres"
    name = raw_dsn(url).rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--console-employees", type=int, default=100_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_URL.format(name="postwise_bench_export"))
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database afterwards.")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    for tool in ("psql", "sqlite3"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install postgresql-client sqlite3)")
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as workdir:
        for backend in backends:
            run(backend, args, Path(workdir))


if __name__ == "__main__":
    main()
