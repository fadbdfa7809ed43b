"""The loader's good paths: files merged, overlays, variables, defaults, positions, the manifest hash."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.diags import SourceRange
from reconciler.manifest.load import load
from reconciler.model.secrets import SecretRef

ROOT = Path(__file__).parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    return root


def messages(diags: object) -> list[str]:
    return [d.render() for d in diags]  # type: ignore[attr-defined]


# --- the examples ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["training", "minimal"])
def test_examples_load_without_any_diagnostic(name: str) -> None:
    desired, diags = load([ROOT / "examples" / name], environ={})
    assert messages(diags) == []
    assert desired.instance is not None and desired.instance.name == name
    assert desired.instance.url is None  # no url: the embedded sandbox


def test_training_example_declares_every_kind_of_the_format_and_loads_fast() -> None:
    desired, _ = load([ROOT / "examples" / "training"], environ={})  # speed: bench/load_bench.py
    assert {"organisations", "roles", "users", "auth_keys", "sharing_groups", "tags", "taxonomies", "templates",
            "allowedlist", "regexps", "org_blocklist", "servers", "feeds", "settings",
            "schedules"} <= set(desired.entries)


# --- files and keys ------------------------------------------------------------------------------------------

def test_a_kind_spread_over_several_files_is_merged(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "organisations:\n  - name: A\n",
                     "sub/b.yml": "organisations:\n  - name: B\nusers:\n  - {email: X@B.example, org: B, role: User}\n",
                     "notes.txt": "organisations: not yaml we read\n"})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors()
    assert sorted(desired.entries["organisations"]) == ["A", "B"]
    assert list(desired.entries["users"]) == ["x@b.example"]  # e-mails are keyed case-insensitively
    assert [p.name for p in desired.files] == ["a.yaml", "b.yml"]


def test_single_files_can_be_given_instead_of_a_directory(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "organisations:\n  - name: A\n", "b.yaml": "organisations:\n  - name: B\n"})
    desired, diags = load([tmp_path / "b.yaml"], environ={})
    assert not diags.has_errors() and list(desired.entries["organisations"]) == ["B"]


def test_settings_and_allowedlist_become_entries_keyed_by_name_and_regex(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": """\
        settings:
          MISP.live: true
          MISP.default_event_distribution: 1
        allowedlist:
          - /^10\\.0\\.0\\./
        """})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors(), messages(diags)
    assert desired.entries["settings"]["MISP.live"].entry.value is True  # type: ignore[attr-defined]
    # lossless: 1 for the option "1"
    assert desired.entries["settings"]["MISP.default_event_distribution"].entry.value == "1"  # type: ignore[attr-defined]
    assert list(desired.entries["allowedlist"]) == ["/^10\\.0\\.0\\./"]


def test_a_deprecated_setting_is_a_warning_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": "settings:\n  MISP.header: Hello\n"})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors()
    assert [d.message for d in diags] == ["MISP.header is deprecated in MISP 2.5"]
    assert "MISP.header" in desired.entries["settings"]


def test_secret_fields_hold_references_that_are_not_resolved_at_load(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": """\
        servers:
          - {name: hub, url: "https://hub.example.org", authkey: {env: NOT_SET_ANYWHERE},
             remote_org: {name: Hub}}
        """})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors(), messages(diags)
    authkey = desired.entries["servers"]["hub"].entry.authkey  # type: ignore[attr-defined]
    assert isinstance(authkey, SecretRef) and authkey.env == "NOT_SET_ANYWHERE"


# --- variables -----------------------------------------------------------------------------------------------

def test_variables_come_from_vars_then_the_environment_then_the_default(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": """\
        vars:
          SECTOR: Government
          NIDS: 4000001
        organisations:
          - name: ${ORG_NAME}
            sector: ${SECTOR}
            description: ${DESCRIPTION:-no description}
            nationality: ${SECTOR_FROM_ENV:-unused}
        users:
          - {email: a@example.org, org: "${ORG_NAME}", role: User, nids_sid: "${NIDS}"}
        """})
    desired, diags = load([tmp_path], environ={"ORG_NAME": "Env CERT", "SECTOR": "not this one",
                                               "SECTOR_FROM_ENV": "Luxembourg"})
    assert not diags.has_errors(), messages(diags)
    org = desired.entries["organisations"]["Env CERT"].entry
    assert (org.sector, org.description, org.nationality) == (  # type: ignore[attr-defined]
        "Government", "no description", "Luxembourg")
    user = desired.entries["users"]["a@example.org"].entry
    assert user.nids_sid == 4000001  # type: ignore[attr-defined]  # ${NIDS} alone keeps the variable's type
    assert desired.vars == {"SECTOR": "Government", "NIDS": 4000001}


def test_an_undefined_variable_is_an_error_at_its_place(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": "organisations:\n  - name: A\n    sector: ${MISSING}\n"})
    _, diags = load([tmp_path], environ={})
    [diag] = list(diags)
    assert diag.code == "undefined-variable"
    assert (diag.subject.line, diag.subject.column) == (3, 13)  # type: ignore[union-attr]


# --- defaults ------------------------------------------------------------------------------------------------

def test_defaults_fill_fields_the_entry_does_not_state_and_count_as_stated(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": """\
        defaults:
          users: {autoalert: true, role: User}
        users:
          - {email: a@example.org, org: A}
          - {email: b@example.org, org: A, role: Publisher, autoalert: false}
        """})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors(), messages(diags)
    a = desired.entries["users"]["a@example.org"].entry
    b = desired.entries["users"]["b@example.org"].entry
    assert (a.role, a.autoalert) == ("User", True)  # type: ignore[attr-defined]
    assert {"role", "autoalert"} <= a.model_fields_set
    assert (b.role, b.autoalert) == ("Publisher", False)  # type: ignore[attr-defined]


# --- overlays ------------------------------------------------------------------------------------------------

OVERLAID = {
    "base.yaml": """\
        organisations:
          - {name: A, sector: Government, description: base}
          - {name: Gone}
        users:
          - {email: a@example.org, org: A, role: User}
        """,
    "overlays/prod/orgs.yaml": """\
        organisations:
          - {name: A, sector: Finance}
          - {name: Gone, remove: true}
          - {name: Prod only}
        users:
          - {email: A@EXAMPLE.ORG, role: Publisher}
        """,
}


def test_without_env_overlays_are_ignored(tmp_path: Path) -> None:
    desired, diags = load([write(tmp_path, OVERLAID)], environ={})
    assert not diags.has_errors()
    assert sorted(desired.entries["organisations"]) == ["A", "Gone"]
    assert desired.entries["organisations"]["A"].entry.sector == "Government"  # type: ignore[attr-defined]


def test_an_overlay_merges_by_natural_key_replaces_scalars_and_removes(tmp_path: Path) -> None:
    desired, diags = load([write(tmp_path, OVERLAID)], env="prod", environ={})
    assert not diags.has_errors(), messages(diags)
    orgs = desired.entries["organisations"]
    assert sorted(orgs) == ["A", "Prod only"]
    assert (orgs["A"].entry.sector, orgs["A"].entry.description) == ("Finance", "base")  # type: ignore[attr-defined]
    user = desired.entries["users"]["a@example.org"].entry  # matched case-insensitively
    assert (user.role, user.org) == ("Publisher", "A")  # type: ignore[attr-defined]
    assert any(p.parts[-3:] == ("overlays", "prod", "orgs.yaml") for p in desired.files)


def test_an_env_without_overlay_files_is_an_error(tmp_path: Path) -> None:
    _, diags = load([write(tmp_path, OVERLAID)], env="staging", environ={})
    assert [d.code for d in diags] == ["unknown-env"]


# --- positions and hash --------------------------------------------------------------------------------------

def test_entries_and_their_fields_know_where_they_were_written(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": """\
        # comment
        users:
          - email: a@example.org
            org: A
            role:   Admn
        """})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors()
    located = desired.entries["users"]["a@example.org"]
    path = tmp_path / "m.yaml"
    assert located.where == SourceRange(path, 3, 5)
    assert located.field_where["role"] == SourceRange(path, 5, 13)
    assert located.field_where["org"] == SourceRange(path, 4, 10)


def test_the_manifest_hash_is_stable_and_follows_the_content(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": "organisations:\n  - name: A\n"})
    first, _ = load([tmp_path], environ={})
    again, _ = load([tmp_path], environ={})
    assert len(first.manifest_hash) == 64 and first.manifest_hash == again.manifest_hash
    write(tmp_path, {"m.yaml": "organisations:\n  - name: B\n"})
    changed, _ = load([tmp_path], environ={})
    assert changed.manifest_hash != first.manifest_hash


def test_a_large_manifest_loads_quickly(tmp_path: Path) -> None:
    users = "".join(f"  - {{email: u{i}@example.org, org: A, role: User}}\n" for i in range(2000))
    write(tmp_path, {"m.yaml": "organisations:\n  - name: A\nusers:\n" + users})
    desired, diags = load([tmp_path], environ={})  # its speed is measured by bench/load_bench.py
    assert not diags.has_errors() and len(desired.entries["users"]) == 2000


def test_an_overlay_gives_instance_and_policy_fields_of_its_own(tmp_path: Path) -> None:
    write(tmp_path, {
        "base.yaml": "instance: {name: training}\npolicy: {prune: owned, max_deletes: 10}\n",
        "overlays/prod/instance.yaml": "instance:\n  url: https://misp.example.org\n  key: {env: MISP_KEY}\n"
                                       "policy: {max_deletes: 2}\n",
    })
    desired, diags = load([tmp_path], env="prod", environ={})
    assert not diags.has_errors(), messages(diags)
    assert desired.instance is not None
    assert (desired.instance.name, desired.instance.url) == ("training", "https://misp.example.org")
    assert (desired.policy.prune, desired.policy.max_deletes) == ("owned", 2)


def test_an_error_in_an_overlay_field_points_into_the_overlay_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "base.yaml": "instance: {name: training}\n",
        "overlays/prod/instance.yaml": "# production\ninstance:\n  url: ftp://misp.example.org\n",
    })
    _, diags = load([tmp_path], env="prod", environ={})
    [diag] = list(diags)
    assert diag.subject == SourceRange(tmp_path / "overlays" / "prod" / "instance.yaml", 3, 8)
    assert diag.path == "instance.url"


def test_vars_from_several_files_are_merged(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "vars: {SECTOR: Finance}\n",
                     "b.yaml": "vars: {NATION: Luxembourg}\norganisations:\n"
                               "  - {name: A, sector: '${SECTOR}', nationality: '${NATION}'}\n"})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors(), messages(diags)
    org = desired.entries["organisations"]["A"].entry
    assert (org.sector, org.nationality) == ("Finance", "Luxembourg")  # type: ignore[attr-defined]


def test_nested_fields_know_where_they_were_written_too(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": """\
        sharing_groups:
          - name: S
            organisations:
              - {org: A}
              - {org: B, extend: true}
        """})
    desired, diags = load([tmp_path], environ={})
    assert not diags.has_errors(), messages(diags)
    where = desired.entries["sharing_groups"]["S"].field_where
    path = tmp_path / "m.yaml"
    assert where["organisations"] == SourceRange(path, 3, 5)
    assert where["organisations.1"] == SourceRange(path, 5, 9)
    assert where["organisations.1.org"] == SourceRange(path, 5, 15)
    assert where["organisations.1.extend"] == SourceRange(path, 5, 26)
