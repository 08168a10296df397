// Bundle the web console (docs/web.md): node build.mjs OUTDIR writes
// index.html (the list page's script and its CSS inline, and in <head>
// boot.js, which starts the list's API request at once), vmpage.HASH.js and vmpage.HASH.css (xterm.js and uPlot with
// their CSS, loaded when a VM page opens; HASH, of the content, lets the
// daemon serve them as immutable) and index.csp (the
// Content-Security-Policy, with the inline script's hash).
// tools/build-web embeds them in the daemon.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
await mkdir(out, { recursive: true });
const hashed = (base, ext, text) =>
  `${base}.${createHash("sha256").update(text).digest("hex").slice(0, 12)}.${ext}`;
const cssOf = async (files) => {
  const css = await Promise.all(files.map((f) => readFile(join(here, f), "utf8")));
  const min = await build({ stdin: { contents: css.join("\n"), loader: "css" }, minify: true, write: false, logLevel: "warning" });
  return min.outputFiles[0].text.trim();
};

const common = { bundle: true, minify: true, target: ["es2020"], legalComments: "none", logLevel: "warning" };
const vm = await build({ ...common, entryPoints: [join(here, "src", "vmpage.js")], format: "esm", write: false });
const vmJs = vm.outputFiles[0].text;
const vmCss = await cssOf(["node_modules/@xterm/xterm/css/xterm.css", "node_modules/uplot/dist/uPlot.min.css"]);
const vmJsName = hashed("vmpage", "js", vmJs), vmCssName = hashed("vmpage", "css", vmCss);
await writeFile(join(out, vmJsName), vmJs);
await writeFile(join(out, vmCssName), vmCss);
const main = await build({
  ...common,
  entryPoints: [join(here, "src", "main.js")],
  format: "iife",
  define: { VMPAGE_JS: JSON.stringify("/ui/" + vmJsName), VMPAGE_CSS: JSON.stringify("/ui/" + vmCssName) },
  external: ["/ui/*"],
  write: false,
});
const js = main.outputFiles[0].text.trim();
if (/<\/script/i.test(js)) throw new Error("main.js contains </script");

// the list page's request, made before the rest of the page is parsed
const boot = (await build({ ...common, entryPoints: [join(here, "src", "boot.js")], format: "iife", write: false }))
  .outputFiles[0].text.trim();
if (/<\/script/i.test(boot)) throw new Error("boot.js contains </script");

const style = await cssOf(["src/style.css"]);
if (/<\/style/i.test(style)) throw new Error("the CSS contains </style");

const html = (await readFile(join(here, "src", "index.html"), "utf8"))
  .replace("<!-- boot -->", () => `<script>${boot}</script>`)
  .replace("<!-- style -->", () => `<style>${style}</style>`)
  .replace("<!-- script -->", () => `<script>${js}</script>`);
await writeFile(join(out, "index.html"), html);

// Scripts: the daemon's files and these two inline scripts only (no
// eval); inline styles for xterm.js; talk to the daemon only; no framing.
const sha = (t) => `'sha256-${createHash("sha256").update(t).digest("base64")}'`;
await writeFile(join(out, "index.csp"),
  `default-src 'self'; script-src 'self' ${sha(boot)} ${sha(js)}; ` +
  "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
