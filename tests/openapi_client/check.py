"""Validates a running gateway's /openapi.json and calls it through a client generated from it.

Usage: check.py <base-url> <admin-bearer-token> <a-valid-agency-uscc>

What a department's developer does with the document: openapi-spec-validator accepts it,
openapi-python-client generates a client without warnings, and the client's calls work — a
public read, an authenticated create (201 with the resource parsed into the generated model)
and a typed error (the documented error body). Exits non-zero with the reason otherwise.
"""

import importlib
import json
import subprocess
import sys
import tempfile
import urllib.request

from openapi_spec_validator import validate


def main() -> None:
    base, token, uscc = sys.argv[1], sys.argv[2], sys.argv[3]
    with urllib.request.urlopen(f"{base}/openapi.json") as r:
        doc = json.load(r)
    validate(doc)
    print(f"valid OpenAPI {doc['openapi']}: {sum(len(v) for v in doc['paths'].values())} operations")

    out = tempfile.mkdtemp()
    spec = f"{out}/openapi.json"
    with open(spec, "w") as f:
        json.dump(doc, f)
    gen = subprocess.run(
        ["openapi-python-client", "generate", "--path", spec, "--meta", "none",
         "--output-path", f"{out}/yiwang_client"],
        capture_output=True, text=True,
    )
    if gen.returncode != 0 or "Warning" in gen.stdout + gen.stderr:
        sys.exit(f"client generation failed or warned:\n{gen.stdout}\n{gen.stderr}")
    sys.path.insert(0, out)
    client_mod = importlib.import_module("yiwang_client.client")
    stats_api = importlib.import_module("yiwang_client.api.catalog.catalog_get_catalog_stats")
    create_unit = importlib.import_module("yiwang_client.api.catalog.catalog_create_org_unit")
    get_unit = importlib.import_module("yiwang_client.api.catalog.catalog_get_org_unit")
    models = importlib.import_module("yiwang_client.models")

    public = client_mod.Client(base_url=base)
    r = stats_api.sync_detailed(client=public)
    assert r.status_code == 200, r
    assert isinstance(r.parsed.published_items, int), r.parsed

    authed = client_mod.AuthenticatedClient(base_url=base, token=token)
    unit = models.CatalogOrgUnit(code="CLIENT-GEN", name="生成客户端测试局", kind="department",
                                 region_code="340522", uscc=uscc)
    r = create_unit.sync_detailed(client=authed, body=unit)
    assert r.status_code == 201, (r.status_code, r.content)
    assert r.parsed.code == "CLIENT-GEN" and r.parsed.kind == "department", r.parsed
    r = get_unit.sync_detailed("NO-SUCH-UNIT", client=public)
    assert r.status_code == 404, r
    assert r.parsed.error.status == "NOT_FOUND", r.parsed
    print("generated client: public read, authenticated create, typed 404 — ok")


if __name__ == "__main__":
    main()
