// Generate the UI's API types from the backend's OpenAPI document:
//   node scripts/openapi-types.mjs OPENAPI.json OUT.ts
// openapi-typescript 7 builds its output with TypeScript's JS compiler API, which the UI's
// own compiler (TypeScript 7, native) does not ship: its `typescript` import is resolved to
// the `typescript5` devDependency (npm:typescript@5) instead, in this process only.
import { register } from 'node:module';

const HOOK = `
export async function resolve(specifier, context, next) {
  if (specifier === 'typescript' && (context.parentURL ?? '').includes('/openapi-typescript/')) {
    return next('typescript5', context);
  }
  return next(specifier, context);
}`;

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/openapi-types.mjs OPENAPI.json OUT.ts');
  process.exit(2);
}
register(`data:text/javascript,${encodeURIComponent(HOOK)}`, import.meta.url);
// the CLI reads its options from process.argv; enum values are exported as arrays
process.argv = [process.argv[0], 'openapi-typescript', input, '--enum-values', '-o', output];
await import(new URL('../node_modules/openapi-typescript/bin/cli.js', import.meta.url).href);
