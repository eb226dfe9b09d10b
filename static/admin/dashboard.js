// mana-auth admin page: the dashboard's activity chart and system panel.
// Plain JS and SVG built with DOM calls (no library, no inline style: the
// page's CSP is script-src 'self', style-src 'self'). admin.js calls
// ManaDashboard.chart(activity) and ManaDashboard.system(system).
// The chart is readable without colour: each series has its own line
// pattern and point shape, a legend that shows both, and the same numbers
// as a table below it.
'use strict';
window.ManaDashboard = (function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const SERIES = [
    { key: 'signIns', label: 'Sign-ins', shape: 'circle' },
    { key: 'failedSignIns', label: 'Failed sign-ins', shape: 'square' },
    { key: 'signUps', label: 'Sign-ups', shape: 'triangle' },
  ];
  const W = 720, H = 260, LEFT = 44, RIGHT = 12, TOP = 14, BOTTOM = 34;

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function html(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') node.className = v; else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // A point marker of `shape` centred on (x, y).
  function marker(shape, x, y, attrs) {
    const r = 3.5;
    if (shape === 'square') return svg('rect', { x: x - r, y: y - r, width: 2 * r, height: 2 * r, ...attrs });
    if (shape === 'triangle') {
      const p = `${x},${y - r - 1} ${x - r - 1},${y + r} ${x + r + 1},${y + r}`;
      return svg('polygon', { points: p, ...attrs });
    }
    return svg('circle', { cx: x, cy: y, r, ...attrs });
  }

  // The axis top: four whole-number steps of 1, 2 or 5 × 10^n that reach `max`.
  function axisTop(max) {
    const need = Math.max(1, Math.ceil(max / 4));
    const p = Math.pow(10, Math.floor(Math.log10(need)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= need);
    return 4 * step;
  }

  function chart(activity) {
    const days = activity.days;
    const n = days.length;
    const max = axisTop(Math.max(0, ...days.flatMap((d) => SERIES.map((s) => d[s.key]))));
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const x = (i) => LEFT + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
    const y = (v) => TOP + plotH - (v / max) * plotH;
    const title = `Sign-ins, failed sign-ins and sign-ups per day, ${days[0].date} to ${days[n - 1].date} (UTC)`;
    const root = svg('svg', {
      id: 'activity-chart', class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-labelledby': 'activity-chart-title', 'data-days': n,
    }, svg('title', { id: 'activity-chart-title' }, title));

    const grid = svg('g', { class: 'grid' });
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      grid.append(svg('line', { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }),
        svg('text', { x: LEFT - 6, y: y(v) + 4, class: 'tick y' }, String(v)));
    }
    days.forEach((d, i) => {
      if ((n - 1 - i) % 7 === 0) {
        grid.append(svg('line', { class: 'xtick', x1: x(i), x2: x(i), y1: TOP + plotH, y2: TOP + plotH + 4 }),
          svg('text', { x: x(i), y: H - 12, class: i === n - 1 ? 'tick x last' : 'tick x' }, d.date.slice(5)));
      }
    });
    root.append(grid);

    for (const s of SERIES) {
      const g = svg('g', { class: 'series ' + s.key, 'data-series': s.key });
      g.append(svg('polyline', {
        class: 'line', fill: 'none',
        points: days.map((d, i) => `${x(i)},${y(d[s.key])}`).join(' '),
      }));
      days.forEach((d, i) => {
        const m = marker(s.shape, x(i), y(d[s.key]), { class: 'point', 'data-date': d.date, 'data-value': d[s.key] });
        m.append(svg('title', {}, `${d.date}: ${d[s.key]} ${s.label.toLowerCase()}`));
        g.append(m);
      });
      root.append(g);
    }

    const legend = html('ul', { class: 'legend', 'aria-hidden': 'true' }, SERIES.map((s) =>
      html('li', {}, svg('svg', { viewBox: '0 0 34 12', class: 'key ' + s.key },
        svg('line', { class: 'line', x1: 1, x2: 33, y1: 6, y2: 6 }), marker(s.shape, 17, 6, { class: 'point' })), s.label)));

    const total = (k) => days.reduce((a, d) => a + d[k], 0);
    const summary = SERIES.map((s) => `${total(s.key)} ${s.label.toLowerCase()}`).join(', ');
    const tableView = html('details', { class: 'chart-table' }, html('summary', {}, 'Show as table'),
      html('div', { class: 'table-wrap' }, html('table', {},
        html('thead', {}, html('tr', {}, html('th', { scope: 'col' }, 'Day (UTC)'), SERIES.map((s) => html('th', { scope: 'col' }, s.label)))),
        html('tbody', {}, days.slice().reverse().map((d) =>
          html('tr', {}, html('th', { scope: 'row' }, d.date), SERIES.map((s) => html('td', {}, String(d[s.key])))))))));

    return html('section', { class: 'card', 'aria-labelledby': 'activity-heading' },
      html('h2', { id: 'activity-heading' }, `Last ${n} days`),
      html('p', { class: 'muted small', id: 'activity-summary' }, summary + '.'),
      root, legend, tableView);
  }

  function bytes(n) {
    if (n === null || n === undefined) return '—';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let v = n, u = 0;
    while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
    return (u === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[u];
  }

  function age(sec) {
    if (sec === null || sec === undefined) return '—';
    if (sec < 60) return sec + ' s';
    if (sec < 3600) return Math.floor(sec / 60) + ' min';
    if (sec < 86400) return Math.floor(sec / 3600) + ' h ' + Math.floor((sec % 3600) / 60) + ' min';
    return Math.floor(sec / 86400) + ' d ' + Math.floor((sec % 86400) / 3600) + ' h';
  }

  function time(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—'; }

  // One titled list of facts; `id` of each value for the tests.
  function group(title, rows) {
    return html('div', { class: 'sys-group' }, html('h3', {}, title),
      html('dl', { class: 'props' }, rows.flatMap(([id, label, value]) =>
        [html('dt', {}, label), html('dd', { id: 'sys-' + id }, value)])));
  }

  function system(s) {
    const db = s.database, mail = s.mail, key = s.signingKey, pool = s.hashPool;
    const backup = s.backup
      ? [['backup', 'Last backup', `${time(s.backup.at)} (${age(s.backup.ageSec)} ago)`],
        ['backup-file', 'File', `${s.backup.file} · ${bytes(s.backup.bytes)}`]]
      : [['backup', 'Last backup', 'none recorded — mana-auth backup FILE']];
    const repl = s.replication
      ? [['replication', 'Litestream position', s.replication.txid
        ? `TXID ${s.replication.txid} at ${time(s.replication.at)} (${age(s.replication.ageSec)} ago)`
        : 'no position yet']]
      : [['replication', 'Replication', 'no replicator detected beside the file']];
    return html('section', { class: 'card', 'aria-labelledby': 'system-heading', id: 'system-panel' },
      html('h2', { id: 'system-heading' }, 'System'),
      html('div', { class: 'sys-grid' },
        group('Process', [
          ['version', 'Version', s.process.version],
          ['uptime', 'Uptime', age(s.process.uptimeSec)],
          ['started', 'Started', time(s.process.startedAt)],
        ]),
        group('Database', [
          ['db-size', 'File', bytes(db.sizeBytes)],
          ['wal-size', 'WAL', bytes(db.walBytes)],
          ['free', 'Free pages', bytes(db.freeBytes)],
          ['schema', 'Schema version', db.schemaVersion === db.latestSchemaVersion
            ? String(db.schemaVersion) : `${db.schemaVersion} (binary knows ${db.latestSchemaVersion})`],
          ['synchronous', 'synchronous', db.synchronous],
        ]),
        group('Backups and replication', [...backup, ...repl]),
        group('Mail queue', [
          ['mail-transport', 'Transport', mail.smtp ? 'SMTP' : 'outbox only (no SMTP_HOST)'],
          ['mail-pending', 'Pending', String(mail.pending)],
          ['mail-failed', 'Failed', String(mail.failed)],
          ['mail-oldest', 'Oldest pending', mail.oldestPendingAgeSec === null ? '—' : age(mail.oldestPendingAgeSec)],
        ]),
        group('Signing key', [
          ['key-id', 'Key id', key.kid || '—'],
          ['key-age', 'Age', age(key.ageSec)],
          ['key-rotation', 'Next rotation', key.nextRotation ? time(key.nextRotation) : 'manual — mana-auth keys rotate'],
          ['key-retired', 'Previous keys published', String(key.retiredPublished)],
        ]),
        group('Password hashing', [
          ['hash-threads', 'Threads', String(pool.threads)],
          ['hash-load', 'Running / queued', `${pool.running} / ${pool.queued} (queue holds ${pool.queueCapacity})`],
          ['hash-done', 'Hashed since start', String(pool.completed)],
        ])),
      html('p', { class: 'muted small' }, 'As of ' + time(s.generatedAt)));
  }

  return { chart, system };
})();
