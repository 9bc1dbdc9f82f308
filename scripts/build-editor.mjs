/**
 * The build's second half, after `tsc`: writes what Node-RED serves for each node beside its
 * compiled runtime in dist/nodes/. Node-RED loads `<type>.html` next to `<type>.js` and inserts
 * it into the editor page as it is, so each node's HTML (nodes/<type>.html: style and dialog
 * template) gets the node's editor script appended, bundled from editor/<type>/index.ts (with
 * the modules it imports, lib/defaults.ts among them) into one IIFE: no module loader runs
 * in the editor, and the bundle leaves no names in the page's global scope. The locales (help
 * text, labels) and icons are copied as they are.
 *
 * Run by `npm run build`; `tsc -p editor/tsconfig.json` has type-checked editor/ before.
 */
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodesDir = join(root, 'nodes');
const out = join(root, 'dist', 'nodes');

/** The editor's script for one node type, as text for a <script> element. */
async function bundle(entry) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    // Node-RED 4's editor supports current Chrome, Firefox, Safari and Edge; ES2020 leaves
    // their syntax as written (optional chaining, ??) and keeps older tablets working.
    target: 'es2020',
    charset: 'utf8',
    legalComments: 'none',
    write: false,
    logLevel: 'warning',
  });
  const code = result.outputFiles[0].text;
  // The HTML parser ends a script at the first `</script`, wherever it is; esbuild escapes it
  // inside strings, and this says so loudly should it ever not.
  if (/<\/script/i.test(code)) throw new Error(`${entry}: the bundle holds "</script", which would end its <script> element early`);
  return code;
}

mkdirSync(out, { recursive: true });
for (const file of readdirSync(nodesDir).filter((f) => f.endsWith('.html'))) {
  const type = file.slice(0, -'.html'.length);
  let html = readFileSync(join(nodesDir, file), 'utf8');
  const entry = join(root, 'editor', type, 'index.ts');
  if (existsSync(entry)) {
    html = `${html.trimEnd()}\n\n<script type="text/javascript">\n${await bundle(entry)}</script>\n`;
  }
  writeFileSync(join(out, file), html);
}
cpSync(join(nodesDir, 'locales'), join(out, 'locales'), { recursive: true });
cpSync(join(root, 'icons'), join(out, 'icons'), { recursive: true });
