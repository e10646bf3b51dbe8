// The relay's few HTML pages: one shell, escaped values, assets from our own origin (the CSP forbids inline code).

export const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export const PAGE_STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.ok{color:#0a6b2b}.error{color:#a4161a}code,pre,textarea{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6rem;overflow:auto;white-space:pre-wrap}
textarea{width:100%;min-height:5rem}button,select{font:inherit}form.inline{display:inline}`

export function page (title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="/assets/home.css"></head><body>${body}</body></html>`
}
