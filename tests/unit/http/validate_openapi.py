#!/usr/bin/env python3
"""Validates an OpenAPI 3.1 document offline, for tests/unit/http/openapi_test.cpp.

usage: validate_openapi.py DOCUMENT.json [CASES.json]

1. the document against the official OpenAPI 3.1 JSON Schema (the copy of
   https://spec.openapis.org/oas/3.1/schema/ bundled with the openapi-spec-validator package),
   with the JSON Schema 2020-12 validator of the jsonschema package;
2. every schema of components.schemas against the JSON Schema 2020-12 meta-schema;
3. the document with openapi-spec-validator (references resolve, path parameters declared,
   operation ids unique, schemas well formed);
4. each case of CASES.json, a list of {"schema": NAME, "instance": VALUE, "valid": BOOL}:
   VALUE validated against #/components/schemas/NAME must pass exactly when "valid" is true.

Exit status: 0 all good, 1 a failure (printed), 77 the Python packages are missing (skip).
"""

import json
import sys

try:
    from importlib import resources

    import jsonschema
    from openapi_spec_validator import OpenAPIV31SpecValidator
except ImportError as e:  # the test skips
    print(f"missing Python package: {e}")
    sys.exit(77)


def official_schema():
    path = resources.files("openapi_spec_validator") / "resources/schemas/v3.1/schema.json"
    schema = json.loads(path.read_text())
    if not schema.get("$id", "").startswith("https://spec.openapis.org/oas/3.1/schema/"):
        raise SystemExit(f"unexpected OpenAPI schema $id: {schema.get('$id')}")
    return schema


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    failures = []

    schema = official_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(doc), key=str):
        failures.append(f"official schema ({schema['$id']}): {error.message} at "
                        f"/{'/'.join(map(str, error.absolute_path))}")

    for name, sub in doc.get("components", {}).get("schemas", {}).items():
        try:
            jsonschema.Draft202012Validator.check_schema(sub)
        except jsonschema.SchemaError as error:
            failures.append(f"components.schemas.{name}: {error.message}")

    try:
        for error in OpenAPIV31SpecValidator(doc).iter_errors():
            failures.append(f"openapi-spec-validator: {error.message}")
    except Exception as error:  # an unresolvable $ref raises
        failures.append(f"openapi-spec-validator: {type(error).__name__}: {str(error)[:300]}")

    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            cases = json.load(f)
        checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
        for i, case in enumerate(cases):
            wrapper = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": "#/components/schemas/" + case["schema"],
                "components": doc["components"],
            }
            errors = list(jsonschema.Draft202012Validator(
                wrapper, format_checker=checker).iter_errors(case["instance"]))
            if case["valid"] and errors:
                failures.append(f"case {i}: {json.dumps(case['instance'])} should be a valid "
                                f"{case['schema']}: {errors[0].message}")
            if not case["valid"] and not errors:
                failures.append(f"case {i}: {json.dumps(case['instance'])} should not be a "
                                f"valid {case['schema']}")
        print(f"{len(cases)} cases checked")

    for failure in failures:
        print(failure)
    print("ok" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
