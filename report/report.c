/* report.c: the HTML/SVG report writer (see report.h). */
#include "report.h"

#include <stdlib.h>
#include <string.h>

static const char *const style_css =
    ":root{--fg:#1d2330;--muted:#5b6478;--bg:#f6f7fb;--card:#fff;--line:#e3e6ef;--acc:#0072B2}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}"
    "header{background:#1d2330;color:#fff;padding:28px 40px 22px}"
    "header h1{margin:0;font-size:26px;font-weight:600}"
    "header p{margin:6px 0 0;color:#b9c1d6}"
    "nav{padding:10px 40px;background:#fff;border-bottom:1px solid var(--line);"
    "font-size:14px;position:sticky;top:0;z-index:1}"
    "nav a{color:var(--acc);text-decoration:none;margin-right:18px}"
    "main{max-width:1180px;margin:0 auto;padding:18px 40px 60px}"
    "section{background:var(--card);border:1px solid var(--line);border-radius:10px;"
    "padding:18px 24px;margin:18px 0;box-shadow:0 1px 2px rgba(0,0,0,.04)}"
    "h2{margin:0 0 6px;font-size:20px;font-weight:600}"
    "p.note{margin:0 0 12px;color:var(--muted)}"
    "figure{margin:10px 0 18px}"
    "figcaption{font-weight:600;margin-bottom:4px}"
    "svg{width:100%;height:auto;display:block}"
    "svg text{font:11px system-ui,sans-serif;fill:#4a5164}"
    "svg .grid{stroke:#eceef4;stroke-width:1}"
    "svg .axis{stroke:#9aa1b2;stroke-width:1}"
    ".legend{font-size:13px;color:var(--muted);margin-top:4px}"
    ".legend span{display:inline-block;margin-right:14px;white-space:nowrap}"
    ".legend i{display:inline-block;width:11px;height:11px;border-radius:2px;"
    "margin-right:5px;vertical-align:-1px}"
    ".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:8px 22px}"
    "table{border-collapse:collapse;width:100%;font-size:13.5px;margin:6px 0 16px}"
    "caption{text-align:left;font-weight:600;padding:4px 0}"
    "th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:top}"
    "th{background:#f0f2f8;font-weight:600}"
    "th.num{text-align:right}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:"
    "nowrap}"
    "td pre,pre{margin:0;white-space:pre-wrap;word-break:break-word;"
    "font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
    "details pre{background:#f6f7fb;padding:10px;border-radius:6px}"
    "mark{background:#ffd86b;padding:0 2px;border-radius:2px}"
    "td code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "background:#eef1f8;padding:1px 5px;border-radius:4px;white-space:pre}"
    ".feat{border-top:1px solid var(--line);padding:12px 0 6px}"
    ".feat h3{margin:0;font-size:17px}.feat h3 a{color:var(--acc);text-decoration:none}"
    ".feat h3 small{font-weight:400;font-size:12px}"
    "p.why{margin:2px 0 6px;color:var(--muted);font-size:13px}"
    ".fcols{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:4px 22px}"
    ".fcols figure{margin:0 0 8px}.fcols svg{max-width:420px}"
    ".lcols{display:flex;flex-wrap:wrap;gap:0 14px}.lt{width:auto;margin:0;font-size:12.5px}"
    ".lt code{display:inline-block;max-width:11em;overflow:hidden;text-overflow:ellipsis;"
    "vertical-align:bottom}"
    ".lt td{padding:1px 5px;border:0}.lt caption{font-weight:400;color:var(--muted)}"
    ".lbw{width:70px}.lb{display:inline-block;height:9px;border-radius:2px}"
    ".ex{display:flex;gap:10px;padding:2px 0;border-bottom:1px solid #f0f2f8;"
    "font:12.5px/1.6 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
    ".exv{flex:0 0 5.5em;text-align:right;color:var(--muted)}"
    ".ctx{white-space:pre-wrap;word-break:break-word}.ctx span{border-radius:2px}"
    ".ctx .pk{outline:1px solid #b35900}.ctx i{color:#9aa1b2;font-style:normal}"
    "footer{color:var(--muted);font-size:12px;text-align:center;padding:20px}";

enum gsae_status report_open(struct report *r, const char *path, const char *title,
                             const char *subtitle, struct gsae_error *err)
{
    *r = (struct report){0};
    if (!(r->path = strdup(path))) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    if (!(r->f = fopen(path, "w"))) {
        free(r->path);
        r->path = NULL;
        return gsae_fail(err, GSAE_EIO, "%s: cannot create the report", path);
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          r->f);
    report_escape(r->f, title);
    fprintf(r->f, "</title>\n<style>%s</style>\n</head><body>\n<header><h1>", style_css);
    report_escape(r->f, title);
    fputs("</h1>", r->f);
    if (subtitle) {
        fputs("<p>", r->f);
        report_escape(r->f, subtitle);
        fputs("</p>", r->f);
    }
    fputs("</header>\n", r->f);
    return GSAE_OK;
}

enum gsae_status report_close(struct report *r, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    if (!r->f) return st;
    fputs("</main>\n<footer>Written by gsae report. Self-contained: inline SVG, no scripts."
          "</footer>\n</body></html>\n",
          r->f);
    if (ferror(r->f) | fclose(r->f)) st = gsae_fail(err, GSAE_EIO, "%s: write failed", r->path);
    free(r->path);
    *r = (struct report){0};
    return st;
}

void report_section(struct report *r, const char *id, const char *title, const char *note)
{
    fputs(r->n_figures++ ? "</section>\n<section id=\"" : "<main>\n<section id=\"", r->f);
    report_escape(r->f, id);
    fputs("\"><h2>", r->f);
    report_escape(r->f, title);
    fputs("</h2>\n", r->f);
    if (note) {
        fputs("<p class=\"note\">", r->f);
        report_escape(r->f, note);
        fputs("</p>\n", r->f);
    }
}

void report_paragraph(struct report *r, const char *text)
{
    fputs("<p>", r->f);
    report_escape(r->f, text);
    fputs("</p>\n", r->f);
}

void report_pre(struct report *r, const char *summary, const char *text, bool open)
{
    fprintf(r->f, "<details%s><summary>", open ? " open" : "");
    report_escape(r->f, summary);
    fputs("</summary><pre>", r->f);
    report_escape(r->f, text);
    fputs("</pre></details>\n", r->f);
}
