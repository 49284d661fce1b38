/**
 * Building DOM without innerHTML: every text goes in through textContent, so
 * nothing an event says can become markup. The server's CSP forbids inline
 * styles, so `style` is refused here: positions and sizes go through the
 * CSSOM (element.style.x = ...), which the CSP allows.
 */

type AttrValue = string | number | boolean | undefined | null;
export type Attrs = Record<string, AttrValue>;
export type Child = Node | string | number | undefined | null | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, ...children);
  return node;
}

export function setAttrs(node: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "style") throw new Error("style attributes break the dashboard's CSP: use a class or the CSSOM");
    if (value === undefined || value === null || value === false) node.removeAttribute(name);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

export function append(node: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces a node's children (text children as text nodes). */
export function fill(node: Element, ...children: Child[]): void {
  node.replaceChildren();
  append(node, ...children);
}

/** A <select> with its options; `value` selected when present. */
export function select(name: string, options: ReadonlyArray<readonly [value: string, label: string]>, value: string): HTMLSelectElement {
  const s = el("select", { name, "aria-label": name });
  for (const [v, label] of options) s.appendChild(el("option", { value: v, selected: v === value }, label));
  s.value = options.some(([v]) => v === value) ? value : (options[0]?.[0] ?? "");
  return s;
}

/**
 * Keeps a <details>'s open state across rebuilds: the views rebuild their
 * tables while events arrive, and a user's opened row must stay open.
 */
export function rememberOpen(details: HTMLDetailsElement, key: string, open: Set<string>): HTMLDetailsElement {
  details.open = open.has(key);
  details.addEventListener("toggle", () => {
    if (details.open) open.add(key);
    else open.delete(key);
  });
  return details;
}

/** A table with a header row; rows are appended to the returned tbody. */
export function table(className: string, headers: readonly string[]): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = el("tbody");
  const t = el("table", { class: className }, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))), body);
  return { table: t, body };
}

/** A verdict or outcome as a coloured word (the colour comes from the stylesheet's [data-verdict] rules). */
export function badge(verdict: string, label = verdict): HTMLSpanElement {
  return el("span", { class: "badge", "data-verdict": verdict }, label);
}
