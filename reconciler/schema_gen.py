"""`python -m reconciler.schema_gen`: regenerate schemas/manifest.schema.json from the manifest models.

The generator lives in reconciler/manifest/jsonschema.py; this is the short name the docs use.
"""

from __future__ import annotations

from reconciler.manifest.jsonschema import main

if __name__ == "__main__":
    main()
