import { chartJs } from "./chart-js.js";
import { escapeHtml, inlineJson } from "./escape.js";

/**
 * The shell the scenario and load reports share (html.ts, load-html.ts;
 * certify's and the qualification's HTML build their own pages): one
 * self-contained page (styles, data and chart.js inlined, no network), the
 * house style, the chart data as `DATA` for the report's own chart script. A
 * report gives its body, the styles of its own parts, and the script that
 * draws its charts.
 */
export function htmlPage(p: { title: string; css?: string; body: string; data: unknown; charts: string }): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title>
<style>${BASE_CSS}${p.css ?? ""}</style>
</head>
<body>
${p.body}
<script>${chartJs()}</script>
<script>
const DATA = ${inlineJson(p.data)};
${p.charts}
</script>
</body>
</html>
`;
}

const BASE_CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.pass{color:#1e7d3a} .fail{color:#b3261e} .meta{color:#555}
table{border-collapse:collapse;width:100%;margin:.6em 0} th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4} code{font-size:.85em;word-break:break-all}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1em} .charts>div{position:relative}
`;
