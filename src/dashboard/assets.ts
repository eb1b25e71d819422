/*
 * The dashboard's only stylesheet and script, served by the worker itself so
 * the pages work offline and under a CSP that allows nothing but 'self'.
 */

export const STYLESHEET = `
:root { color-scheme: light; --ink: #14171f; --muted: #5b6270; --line: #d9dde5; --soft: #f4f6f9; --accent: #1f5fd6;
  --ok: #17803d; --bad: #b42318; --warn: #9a6700; --radius: 6px; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45; font-size: 15px; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible {
  outline: 3px solid #f0b429; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
.skip:focus { left: .5rem; z-index: 10; }
header.top { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--soft); flex-wrap: wrap; }
header.top .brand { font-weight: 700; text-decoration: none; color: var(--ink); }
header.top nav ul { list-style: none; display: flex; gap: 1rem; margin: 0; padding: 0; flex-wrap: wrap; }
header.top nav a[aria-current="page"] { font-weight: 700; text-decoration: none; color: var(--ink); }
header.top .who { margin-left: auto; color: var(--muted); display: flex; gap: .75rem; align-items: center; }
main { max-width: 1100px; margin: 0 auto; padding: 1.25rem; }
h1 { font-size: 1.5rem; margin: .25rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88rem; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: var(--radius); padding: .75rem; overflow: auto; max-height: 28rem; white-space: pre-wrap; word-break: break-word; }
form.stack { display: grid; gap: .9rem; max-width: 40rem; }
form.inline { display: inline-flex; gap: .5rem; align-items: end; flex-wrap: wrap; margin: 0; }
label { font-weight: 600; display: block; margin-bottom: .2rem; }
.hint { color: var(--muted); font-size: .85rem; font-weight: 400; margin-bottom: .35rem; }
input[type=text], input[type=url], input[type=password], input[type=number], input[type=datetime-local], input[type=email], select, textarea {
  width: 100%; padding: .45rem .55rem; border: 1px solid #aab1bf; border-radius: var(--radius); font: inherit; background: #fff; }
textarea { min-height: 6rem; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .88rem; }
fieldset { border: 1px solid var(--line); border-radius: var(--radius); padding: .75rem; }
legend { font-weight: 600; padding: 0 .25rem; }
.checks { display: grid; gap: .35rem; }
.checks label { font-weight: 400; display: flex; gap: .5rem; align-items: baseline; margin: 0; }
button, .button { display: inline-block; padding: .45rem .9rem; border-radius: var(--radius); border: 1px solid var(--accent);
  background: var(--accent); color: #fff; font: inherit; cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.field-error { color: var(--bad); font-size: .88rem; margin-top: .2rem; }
[aria-invalid="true"] { border-color: var(--bad) !important; }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--accent); background: var(--soft); padding: .75rem 1rem; border-radius: var(--radius); margin: 0 0 1rem; }
.notice.error { border-left-color: var(--bad); }
.notice.success { border-left-color: var(--ok); }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.badge.success, .badge.active, .badge.closed { color: var(--ok); }
.badge.failed, .badge.disabled, .badge.open { color: var(--bad); }
.badge.pending, .badge.half_open { color: var(--warn); }
.badge.skipped { color: var(--muted); border-style: dashed; }
.badge.channel-webhook, .badge.channel-email { color: var(--ink); font-weight: 500; }
.badge.channel-slack { color: #611f69; font-weight: 500; }
.badge.channel-discord { color: #4752c4; font-weight: 500; }
.target { display: inline-flex; gap: .4rem; align-items: baseline; flex-wrap: wrap; }
.muted { color: var(--muted); }
.row { display: flex; gap: 1rem; flex-wrap: wrap; align-items: center; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: .75rem; margin: .5rem 0 1rem; }
.card { border: 1px solid var(--line); border-radius: var(--radius); padding: .75rem; }
.card .value { font-size: 1.3rem; font-weight: 700; }
.secret { display: inline-flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.secret output, .secret code { background: var(--soft); border: 1px solid var(--line); padding: .25rem .5rem; border-radius: var(--radius); }
.pager { display: flex; gap: 1rem; margin: .5rem 0; }
.filters { display: flex; gap: .75rem; flex-wrap: wrap; align-items: end; margin-bottom: .75rem; }
.filters > div { min-width: 10rem; }
svg.chart { width: 100%; height: auto; max-width: 1000px; border: 1px solid var(--line); border-radius: var(--radius); }
svg.chart text { font-size: 11px; fill: var(--muted); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
svg.chart line.grid { stroke: var(--line); stroke-width: 1; }
svg.chart rect.bar-success { fill: var(--ok); }
svg.chart rect.bar-failure { fill: var(--bad); }
svg.chart .series-p50 polyline, svg.chart .series-p95 polyline { fill: none; stroke-width: 2; }
svg.chart .series-p50 polyline { stroke: var(--accent); }
svg.chart .series-p95 polyline { stroke: var(--warn); stroke-dasharray: 5 3; }
svg.chart .series-p50 circle { fill: var(--accent); }
svg.chart .series-p95 circle { fill: var(--warn); }
svg.chart text.chart-empty { font-size: 14px; }
.charts figure { margin: 0 0 1rem; }
.charts figcaption { font-weight: 600; margin-bottom: .3rem; display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
.legend { font-weight: 400; font-size: .85rem; color: var(--muted); display: inline-flex; align-items: center; gap: .3rem; }
.legend::before { content: ""; display: inline-block; width: .9rem; height: .6rem; border-radius: 2px; }
.legend-success::before { background: var(--ok); }
.legend-failure::before { background: var(--bad); }
.legend-p50::before { background: var(--accent); height: 3px; }
.legend-p95::before { background: var(--warn); height: 3px; }
dl.details { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: .5rem 0 1rem; }
dl.details dt { font-weight: 600; color: var(--muted); }
dl.details dd { margin: 0; word-break: break-word; }
.actions { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); }
.actions section { border: 1px solid var(--line); border-radius: var(--radius); padding: .75rem; }
.actions h3 { font-size: 1rem; margin: 0 0 .5rem; }
.actions form + h3 { margin-top: 1.25rem; }
`;

/*
 * Progressive enhancement only: every page works without it. It adds copy
 * buttons, asks before destructive actions, refreshes a running task's page
 * and, in the endpoint form, shows only the fields of the chosen channel.
 */
export const SCRIPT = `
document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  const source = document.getElementById(button.getAttribute("data-copy") || "");
  if (!source) return;
  const text = "value" in source && typeof source.value === "string" ? source.value : source.textContent || "";
  try {
    await navigator.clipboard.writeText(text.trim());
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = button.getAttribute("data-label") || "Copy"; }, 2000);
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
for (const button of document.querySelectorAll("[data-copy]")) button.hidden = false;
const refresh = document.querySelector("meta[name=edgehook-refresh]");
if (refresh) setTimeout(() => window.location.reload(), Number(refresh.getAttribute("content")) * 1000);
// Without this every channel's fields show, each hint naming the channels it is for.
const channelSelect = document.querySelector("select[data-channel-select]");
if (channelSelect instanceof HTMLSelectElement) {
  const showChannel = () => {
    const channel = channelSelect.value;
    for (const part of document.querySelectorAll("[data-channels]")) {
      const shown = (part.getAttribute("data-channels") || "").split(" ").includes(channel);
      part.hidden = !shown;
      // A hidden field cannot be filled in, so it must not hold the form back.
      for (const control of part.querySelectorAll("[data-required]")) control.required = shown;
      const label = part.querySelector("label");
      const labelText = part.getAttribute("data-label-" + channel);
      if (label && labelText) label.textContent = labelText;
      const hint = part.querySelector(".hint");
      const hintText = part.getAttribute("data-hint-" + channel);
      if (hint && hintText) hint.textContent = hintText;
    }
  };
  channelSelect.addEventListener("change", showChannel);
  showChannel();
}
`;
