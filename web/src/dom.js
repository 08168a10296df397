// Building elements: h(tag, attrs, ...kids). Every value goes in as an
// attribute or as text, never as HTML. attrs: onNAME adds a listener,
// true sets an empty attribute, false/null/undefined leave it out; kids
// are nodes, text (anything else: String) or arrays of them (null and
// undefined skipped). Shared by the list page and the VM page's bundle.
export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, v);
  }
  for (const c of kids.flat()) {
    if (c == null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
