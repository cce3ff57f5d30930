"""Issue 22: the generated packages are what an LMS imports: a manifest valid against the SCORM 1.2,
SCORM 2004 4th edition and cmi5 schemas (tests/dispatch/schemas), a launch page and its script,
and nothing tied to a course version."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from dispatch.archive import SCRIPT

SCHEMAS = Path(__file__).with_name("schemas")
# Each SCORM manifest mixes several namespaces: one driver schema imports each binding, so every
# element and attribute of the manifest is checked by the schema of its namespace.
DRIVERS = {
    "scorm12": (
        "scorm12",
        {
            "http://www.imsproject.org/xsd/imscp_rootv1p1p2": "imscp_rootv1p1p2.xsd",
            "http://www.adlnet.org/xsd/adlcp_rootv1p2": "adlcp_rootv1p2.xsd",
            # imsmd_rootv1p2p1.xsd (LOM metadata) is not imported: libxml2 refuses its content model
            # (not deterministic), and the manifests carry no LOM record for it to check.
        },
    ),
    "scorm2004": (
        "scorm2004_4th",
        {
            "http://www.imsglobal.org/xsd/imscp_v1p1": "imscp_v1p1.xsd",
            "http://www.adlnet.org/xsd/adlcp_v1p3": "adlcp_v1p3.xsd",
            "http://www.adlnet.org/xsd/adlseq_v1p3": "adlseq_v1p3.xsd",
            "http://www.adlnet.org/xsd/adlnav_v1p3": "adlnav_v1p3.xsd",
            "http://www.imsglobal.org/xsd/imsss": "imsss_v1p0.xsd",
        },
    ),
}


@cache
def schema(package_format: str) -> etree.XMLSchema:
    if package_format == "cmi5":
        return etree.XMLSchema(etree.parse(str(SCHEMAS / "cmi5" / "CourseStructure.xsd")))
    folder, bindings = DRIVERS[package_format]
    # libxml2 refuses SCORM 1.2's ims_xml.xsd (it binds the xml namespace as its default), so the
    # xml namespace (xml:lang, xml:base; the manifests use neither) comes from W3C's xml.xsd,
    # imported first: the bindings' own imports of that namespace are then skipped.
    xml_namespace = "http://www.w3.org/XML/1998/namespace"
    imports = f'<xs:import namespace="{xml_namespace}" schemaLocation="../scorm2004_4th/xml.xsd"/>'
    imports += "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{file}"/>' for ns, file in bindings.items()
    )
    driver = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    parser = etree.XMLParser(no_network=True)
    root = etree.fromstring(driver.encode(), parser, base_url=str(SCHEMAS / folder / "driver.xsd"))
    return etree.XMLSchema(root)


def valid(package_format: str, manifest: bytes) -> list[str]:
    document = etree.fromstring(manifest, etree.XMLParser(no_network=True))
    checker = schema(package_format)
    return [] if checker.validate(document) else [str(error) for error in checker.error_log]


@pytest.mark.parametrize(
    ("package_format", "manifest"),
    [("scorm12", "imsmanifest.xml"), ("scorm2004", "imsmanifest.xml"), ("cmi5", "cmi5.xml")],
)
def test_each_manifest_is_valid_against_its_schema(make_package, package_format, manifest):
    built = make_package(package_format)
    assert sorted(built.files) == sorted([manifest, "index.html", "postwise-dispatch.js"])
    assert valid(package_format, built.files[manifest]) == []
    assert built.files["postwise-dispatch.js"] == SCRIPT.read_bytes()
    config = built.config
    assert (config["dispatchId"], config["format"], config["server"]) == (
        built.dispatch_id,
        package_format,
        "http://localhost",
    )
    assert len(config["secret"]) >= 43, "a 256-bit secret"


def test_the_schemas_catch_a_broken_manifest(make_package):
    """The validation is not a formality: a manifest an LMS would refuse fails it."""
    scorm12 = make_package("scorm12").files["imsmanifest.xml"]
    assert valid("scorm12", scorm12.replace(b'adlcp:scormtype="sco"', b'adlcp:scormtype="page"'))
    scorm2004 = make_package("scorm2004").files["imsmanifest.xml"]
    assert valid(
        "scorm2004",
        scorm2004.replace(b"<organizations ", b"<organisations ").replace(
            b"</organizations>", b"</organisations>"
        ),
    )
    cmi5 = make_package("cmi5").files["cmi5.xml"]
    assert valid("cmi5", cmi5.replace(b'moveOn="CompletedAndPassed"', b'moveOn="Finished"'))
    assert valid("cmi5", cmi5.replace(b"<url>index.html</url>", b""))


def test_scorm_manifests_say_their_version_and_launch_the_page(make_package):
    for package_format, version, ns in (
        ("scorm12", "1.2", "http://www.imsproject.org/xsd/imscp_rootv1p1p2"),
        ("scorm2004", "2004 4th Edition", "http://www.imsglobal.org/xsd/imscp_v1p1"),
    ):
        root = etree.fromstring(make_package(package_format).files["imsmanifest.xml"])
        assert root.findtext(f"{{{ns}}}metadata/{{{ns}}}schemaversion") == version
        resource = root.find(f"{{{ns}}}resources/{{{ns}}}resource")
        assert resource.get("href") == "index.html"
        assert [f.get("href") for f in resource.findall(f"{{{ns}}}file")] == [
            "index.html",
            "postwise-dispatch.js",
        ]
        title = root.findtext(f"{{{ns}}}organizations/{{{ns}}}organization/{{{ns}}}title")
        assert title == "Social media policy orientation"


def test_the_cmi5_structure_names_one_au_that_needs_completed_and_passed(make_package):
    built = make_package("cmi5")
    ns = "{https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd}"
    root = etree.fromstring(built.files["cmi5.xml"])
    au = root.find(f"{ns}au")
    assert au.get("moveOn") == "CompletedAndPassed"
    assert au.get("id") == f"http://localhost/dispatch/{built.dispatch_id}/au"
    assert au.findtext(f"{ns}url") == "index.html"
    titles = {s.get("lang"): s.text for s in root.find(f"{ns}course/{ns}title")}
    assert titles == {
        "en": "Social media policy orientation",
        "es": "Orientación sobre la política de redes sociales",
    }


def test_a_package_names_the_course_not_a_version(app, make_package):
    """The package holds the course's slug and title only: building it again, as after a new
    version of the course, gives the same bytes (the same package and secret)."""
    from dispatch import archive
    from dispatch.models import DispatchPackage
    from training_app.extensions import db

    built = make_package("scorm2004")
    assert built.config == {
        "server": "http://localhost",
        "dispatchId": built.dispatch_id,
        "secret": built.secret,
        "format": "scorm2004",
        "opensIn": "frame",
        "pollSeconds": archive.POLL_SECONDS,
    }
    with app.app_context(), app.test_request_context():
        again = archive.build_package(db.session.get(DispatchPackage, built.id))
    assert again == built.zip_bytes
