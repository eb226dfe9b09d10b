// mana-auth admin page. Plain JS, no framework, no build step.
// The access and refresh tokens live only in this closure (never in
// localStorage or a cookie) and go out as a Bearer header; every fetch uses
// `credentials: 'omit'`, so the session cookie is neither stored nor sent.
// All user data reaches the DOM through textContent, never innerHTML.
'use strict';
(function () {
  const API = '/api/v1';
  const TIERS = ['guest', 'public', 'beta', 'alpha', 'founder'];
  const ROLES = ['user', 'admin', 'service'];
  let session = null; // { access, refresh, user }
  let pendingTwoFactor = null;

  const $ = (id) => document.getElementById(id);

  // el('a', {href: '#'}, 'text', child) — attributes via setAttribute,
  // children as text nodes or elements.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'on') { for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn); }
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function say(text, kind) {
    const s = $('status');
    s.textContent = text || '';
    s.className = 'status' + (kind ? ' ' + kind : '');
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || ('HTTP ' + status));
      this.status = status;
      this.code = body && body.error;
      this.body = body || {};
    }
  }

  async function raw(method, path, body, token) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(API + path, {
      method, headers, credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  async function api(method, path, body) {
    if (!session) throw new ApiError(401, { error: 'UNAUTHORIZED', message: 'sign in first' });
    try {
      return await raw(method, path, body, session.access);
    } catch (e) {
      if (e.code !== 'TOKEN_EXPIRED' || !session.refresh) throw e;
      const fresh = await raw('POST', '/auth/refresh', { refreshToken: session.refresh });
      session.access = fresh.accessToken;
      session.refresh = fresh.refreshToken || session.refresh;
      return raw(method, path, body, session.access);
    }
  }

  // ---- sign in -----------------------------------------------------------
  function showLogin() {
    session = null;
    $('nav').hidden = true;
    $('view').replaceChildren();
    $('login').hidden = false;
    $('login-form').hidden = false;
    $('totp-form').hidden = true;
    $('login-email').focus();
  }

  function signedIn(data) {
    if (!data || !data.user || data.user.role !== 'admin') {
      if (data && data.accessToken) raw('POST', '/auth/logout', {}, data.accessToken).catch(() => {});
      say('This account is not an admin.', 'error');
      return;
    }
    session = { access: data.accessToken, refresh: data.refreshToken, user: data.user };
    $('login-password').value = '';
    $('login').hidden = true;
    $('nav').hidden = false;
    say('Signed in as ' + data.user.email, 'ok');
    if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/dashboard';
    else route();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    say('Signing in…');
    const email = $('login-email').value.trim();
    const password = $('login-password').value;
    try {
      signedIn(await raw('POST', '/auth/login', { email, password }));
    } catch (e) {
      if (e.code === 'TWO_FACTOR_REQUIRED') {
        pendingTwoFactor = e.body;
        $('login-form').hidden = true;
        $('totp-form').hidden = false;
        $('totp-code').value = '';
        $('totp-code').focus();
        say('Two-factor code required.');
        return;
      }
      say(e.message, 'error');
    }
  }

  async function onTotp(ev) {
    ev.preventDefault();
    const code = $('totp-code').value.trim();
    const body = { code };
    // Pass on whatever ticket the login answer carried.
    for (const k of ['twoFactorTicket', 'ticket', 'twoFactorToken', 'token']) {
      if (pendingTwoFactor && typeof pendingTwoFactor[k] === 'string') body[k] = pendingTwoFactor[k];
    }
    try {
      signedIn(await raw('POST', '/auth/two-factor/verify-totp', body));
    } catch (e) {
      if (e.status === 404 && e.code === 'NOT_FOUND') say('Two-factor sign-in is not available on this server.', 'error');
      else say(e.message, 'error');
    }
  }

  async function signOut() {
    if (session) await raw('POST', '/auth/logout', {}, session.access).catch(() => {});
    say('Signed out.');
    showLogin();
  }

  // ---- helpers -----------------------------------------------------------
  function parseHash() {
    const h = location.hash.replace(/^#/, '') || '/dashboard';
    const [path, query] = h.split('?');
    return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || '') };
  }

  function link(href, text) { return el('a', { href }, text); }
  function fmtTime(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—'; }
  function json(v) { return el('pre', {}, JSON.stringify(v, null, 2)); }

  function table(headers, rows) {
    return el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.length ? rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))
        : el('tr', {}, el('td', { colspan: headers.length, class: 'muted' }, 'Nothing here.')))));
  }

  function pager(data, go) {
    const pages = Math.max(data.totalPages, 1);
    return el('div', { class: 'pager' },
      el('button', { type: 'button', class: 'secondary', disabled: data.page <= 1, on: { click: () => go(data.page - 1) } }, 'Previous'),
      el('span', { id: 'page-info' }, `Page ${data.page} of ${pages} · ${data.total} total`),
      el('button', { type: 'button', class: 'secondary', disabled: data.page >= pages, on: { click: () => go(data.page + 1) } }, 'Next'));
  }

  function setQuery(base, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    location.hash = base + (s ? '?' + s : '');
  }

  function field(id, label, input) { return el('div', {}, el('label', { for: id }, label), input); }
  function select(id, options, value) {
    return el('select', { id, name: id }, options.map(([v, t]) => el('option', { value: v, selected: v === value }, t)));
  }

  function render(...nodes) {
    $('view').replaceChildren(...nodes);
    for (const a of document.querySelectorAll('nav a')) {
      if (location.hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  // ---- screens -----------------------------------------------------------
  const STAT_LABELS = [
    ['totalUsers', 'Users'], ['newUsers7d', 'New users (7 days)'], ['newUsers30d', 'New users (30 days)'],
    ['activeSessions', 'Active sessions'], ['uniqueUsers24h', 'Active users (24 h)'],
    ['loginSuccess7d', 'Sign-ins (7 days)'], ['loginFailed7d', 'Failed sign-ins (7 days)'],
  ];

  async function dashboard() {
    // One after the other: a refresh of an expired token happens once.
    const s = await api('GET', '/admin/stats');
    const activity = await api('GET', '/admin/activity?days=30');
    const system = await api('GET', '/admin/system');
    render(el('h1', {}, 'Dashboard'),
      el('div', { class: 'stats' }, STAT_LABELS.map(([k, label]) =>
        el('div', { class: 'stat' }, el('span', { class: 'value', id: 'stat-' + k }, s[k]), el('span', { class: 'label' }, label)))),
      el('p', { class: 'muted small' }, 'Generated ' + fmtTime(s.generatedAt)),
      window.ManaDashboard.chart(activity),
      window.ManaDashboard.system(system));
  }

  async function usersList(params) {
    const page = params.get('page') || '1';
    const search = params.get('search') || '';
    const tier = params.get('tier') || '';
    const q = new URLSearchParams({ page, limit: '25' });
    if (search) q.set('search', search);
    if (tier) q.set('tier', tier);
    const data = await api('GET', '/admin/users?' + q);
    const searchInput = el('input', { id: 'user-search', type: 'search', value: search, placeholder: 'Email or name' });
    const tierSelect = select('user-tier', [['', 'Any tier'], ...TIERS.map((t) => [t, t])], tier);
    const form = el('form', { class: 'filters', role: 'search', on: { submit: (ev) => {
      ev.preventDefault();
      setQuery('#/users', { search: searchInput.value.trim(), tier: tierSelect.value });
    } } }, field('user-search', 'Search', searchInput), field('user-tier', 'Tier', tierSelect),
    el('button', { type: 'submit' }, 'Search'));
    render(el('h1', {}, 'Users'), form,
      table(['Email', 'Name', 'Tier', 'Role', 'Status', 'Created'], data.users.map((u) => [
        link('#/users/' + encodeURIComponent(u.id), u.email), u.name || '—', u.accessTier, u.role,
        u.locked ? el('span', { class: 'badge bad' }, 'locked') : (u.emailVerified ? 'verified' : 'unverified'),
        fmtTime(u.createdAt)])),
      pager(data, (p) => setQuery('#/users', { search, tier, page: p })));
  }

  async function act(fn, okText) {
    try {
      await fn();
      say(okText, 'ok');
      await route();
    } catch (e) { say(e.message, 'error'); }
  }

  async function userDetail(id) {
    const d = await api('GET', '/admin/users/' + encodeURIComponent(id));
    const u = d.user;
    const base = '/admin/users/' + encodeURIComponent(id);
    const tierSel = select('tier-select', TIERS.map((t) => [t, t]), u.accessTier);
    const roleSel = select('role-select', ROLES.map((r) => [r, r]), u.role);
    const self = session && session.user.id === u.id;
    render(
      el('h1', {}, u.email),
      el('div', { class: 'card' }, el('dl', { class: 'props' },
        el('dt', {}, 'Id'), el('dd', {}, u.id),
        el('dt', {}, 'Name'), el('dd', {}, u.name || '—'),
        el('dt', {}, 'Email verified'), el('dd', {}, u.emailVerified ? 'yes' : 'no'),
        el('dt', {}, 'Tier'), el('dd', { id: 'detail-tier' }, u.accessTier),
        el('dt', {}, 'Role'), el('dd', { id: 'detail-role' }, u.role),
        el('dt', {}, 'Kind'), el('dd', {}, u.kind),
        el('dt', {}, 'Two-factor'), el('dd', {}, u.twoFactorEnabled ? 'on' : 'off'),
        el('dt', {}, 'Password'), el('dd', {}, d.hasPassword ? 'set' : 'none'),
        el('dt', {}, 'Lock'), el('dd', { id: 'detail-lock' }, d.lock ? 'locked since ' + fmtTime(d.lock.lockedAt) + (d.lock.reason ? ' — ' + d.lock.reason : '') : 'not locked'),
        el('dt', {}, 'Created'), el('dd', {}, fmtTime(u.createdAt)),
        el('dt', {}, 'Passkeys'), el('dd', {}, String((d.passkeys || []).length)))),
      el('div', { class: 'card actions' },
        el('form', { on: { submit: (ev) => { ev.preventDefault(); act(() => api('PUT', base + '/tier', { tier: tierSel.value }), 'Tier saved.'); } } },
          field('tier-select', 'Tier', tierSel), el('button', { type: 'submit', id: 'save-tier' }, 'Save tier')),
        el('form', { on: { submit: (ev) => { ev.preventDefault(); act(() => api('PUT', base + '/role', { role: roleSel.value }), 'Role saved.'); } } },
          field('role-select', 'Role', roleSel), el('button', { type: 'submit', disabled: self }, 'Save role')),
        d.lock
          ? el('button', { type: 'button', on: { click: () => act(() => api('POST', base + '/unlock'), 'Unlocked.') } }, 'Unlock')
          : el('button', { type: 'button', class: 'danger', disabled: self, on: { click: () => {
            if (confirm('Lock ' + u.email + '? All their sessions end now.')) act(() => api('POST', base + '/lock', {}), 'Locked.');
          } } }, 'Lock'),
        el('button', { type: 'button', class: 'secondary', on: { click: () => act(() => api('DELETE', base + '/sessions'), 'Sessions revoked.') } }, 'Revoke all sessions'),
        link('#/sync?userId=' + encodeURIComponent(u.id), 'Sync changes'),
        link('#/events?userId=' + encodeURIComponent(u.id), 'All events'),
        el('button', { type: 'button', class: 'danger', disabled: self, on: { click: async () => {
          if (!confirm('Delete ' + u.email + ' and ALL their data? This cannot be undone.')) return;
          try { await api('DELETE', base + '/data'); say('Account and data deleted.', 'ok'); location.hash = '#/users'; }
          catch (e) { say(e.message, 'error'); }
        } } }, 'Delete all data')),
      el('h2', {}, 'Sessions'),
      table(['Created', 'Expires', 'IP', 'User agent'], d.sessions.map((s) => [fmtTime(s.createdAt), fmtTime(s.expiresAt), s.ipAddress || '—', s.userAgent || '—'])),
      el('h2', {}, 'Passkeys'),
      table(['Name', 'Created', 'Last used', 'Counter', 'Synced'], (d.passkeys || []).map((p) => [p.name, fmtTime(p.createdAt), p.lastUsedAt ? fmtTime(p.lastUsedAt) : '—', String(p.counter), p.backupState ? 'yes' : 'no'])),
      el('h2', {}, 'Spaces'),
      table(['Name', 'Slug', 'Type', 'Role'], d.spaces.map((s) => [link('#/spaces/' + encodeURIComponent(s.id), s.name), s.slug, (s.metadata && s.metadata.type) || '—', s.role])),
      el('h2', {}, 'Recent events'),
      eventsTable(d.recentEvents));
  }

  function eventsTable(events) {
    return table(['When', 'Event', 'User', 'IP', 'Details'], events.map((e) => [
      fmtTime(e.createdAt), e.eventType, e.userEmail || e.userId || '—', e.ipAddress || '—',
      el('code', {}, JSON.stringify(e.metadata))]));
  }

  async function spacesList(params) {
    const page = params.get('page') || '1';
    const search = params.get('search') || '';
    const q = new URLSearchParams({ page, limit: '25' });
    if (search) q.set('search', search);
    const data = await api('GET', '/admin/spaces?' + q);
    const input = el('input', { id: 'space-search', type: 'search', value: search, placeholder: 'Name or slug' });
    render(el('h1', {}, 'Spaces'),
      el('form', { class: 'filters', role: 'search', on: { submit: (ev) => { ev.preventDefault(); setQuery('#/spaces', { search: input.value.trim() }); } } },
        field('space-search', 'Search', input), el('button', { type: 'submit' }, 'Search')),
      table(['Name', 'Slug', 'Type', 'Members', 'Created'], data.spaces.map((s) => [
        link('#/spaces/' + encodeURIComponent(s.id), s.name), s.slug, s.type, String(s.memberCount), fmtTime(s.createdAt)])),
      pager(data, (p) => setQuery('#/spaces', { search, page: p })));
  }

  async function spaceDetail(id) {
    const d = await api('GET', '/admin/spaces/' + encodeURIComponent(id));
    render(el('h1', {}, d.space.name),
      el('div', { class: 'card' }, el('dl', { class: 'props' },
        el('dt', {}, 'Id'), el('dd', {}, d.space.id), el('dt', {}, 'Slug'), el('dd', {}, d.space.slug),
        el('dt', {}, 'Created'), el('dd', {}, fmtTime(d.space.createdAt))),
      json(d.space.metadata), el('p', {}, link('#/sync?spaceId=' + encodeURIComponent(d.space.id), 'Sync changes of this space'))),
      el('h2', {}, 'Members'),
      table(['Email', 'Name', 'Role', 'Since'], d.members.map((m) => [
        link('#/users/' + encodeURIComponent(m.userId), m.user.email), m.user.name || '—', m.role, fmtTime(m.createdAt)])),
      el('h2', {}, 'Invitations'),
      table(['Email', 'Role', 'Status', 'Expires'], d.invitations.map((i) => [i.email, i.role, i.status, fmtTime(i.expiresAt)])));
  }

  async function syncBrowser(params) {
    const page = params.get('page') || '1';
    const userId = params.get('userId') || '';
    const spaceId = params.get('spaceId') || '';
    const q = new URLSearchParams({ page, limit: '20' });
    if (userId) q.set('userId', userId);
    if (spaceId) q.set('spaceId', spaceId);
    const data = await api('GET', '/admin/sync-changes?' + q);
    const u = el('input', { id: 'sync-user', value: userId, placeholder: 'User id' });
    const s = el('input', { id: 'sync-space', value: spaceId, placeholder: 'Space id' });
    render(el('h1', {}, 'Sync changes'),
      el('form', { class: 'filters', on: { submit: (ev) => { ev.preventDefault(); setQuery('#/sync', { userId: u.value.trim(), spaceId: s.value.trim() }); } } },
        field('sync-user', 'User id', u), field('sync-space', 'Space id', s), el('button', { type: 'submit' }, 'Show')),
      el('div', { class: 'card', id: 'changes' }, data.changes.length ? data.changes.map((c) => el('div', { class: 'change' },
        el('div', {}, el('strong', {}, c.appId + ' / ' + c.tableName), ' ', el('span', { class: 'badge' }, c.op), ' ',
          el('span', { class: 'muted small' }, fmtTime(c.createdAt) + ' · record ' + c.recordId + ' · ' + c.clientId)),
        json(c.data),
        el('details', {}, el('summary', {}, 'Field meta and actor'), json({ fieldMeta: c.fieldMeta, actor: c.actor, origin: c.origin, spaceId: c.spaceId, userId: c.userId })))) : el('p', { class: 'muted' }, 'No changes.')),
      pager(data, (p) => setQuery('#/sync', { userId, spaceId, page: p })));
  }

  async function eventsBrowser(params) {
    const page = params.get('page') || '1';
    const type = params.get('type') || '';
    const userId = params.get('userId') || '';
    const q = new URLSearchParams({ page, limit: '50' });
    if (type) q.set('type', type);
    if (userId) q.set('userId', userId);
    const data = await api('GET', '/admin/security-events?' + q);
    const t = el('input', { id: 'ev-type', value: type, placeholder: 'e.g. LOGIN_FAILURE' });
    const u = el('input', { id: 'ev-user', value: userId, placeholder: 'User id' });
    render(el('h1', {}, 'Security events'),
      el('form', { class: 'filters', on: { submit: (ev) => { ev.preventDefault(); setQuery('#/events', { type: t.value.trim(), userId: u.value.trim() }); } } },
        field('ev-type', 'Type', t), field('ev-user', 'User id', u), el('button', { type: 'submit' }, 'Filter')),
      eventsTable(data.events), pager(data, (p) => setQuery('#/events', { type, userId, page: p })));
  }

  async function outbox(params) {
    const page = params.get('page') || '1';
    const status = params.get('status') || '';
    const q = new URLSearchParams({ page, limit: '25' });
    if (status) q.set('status', status);
    const data = await api('GET', '/admin/mail-outbox?' + q);
    const sel = select('mail-status', [['', 'Any status'], ['pending', 'pending'], ['sent', 'sent'], ['logged', 'logged'], ['failed', 'failed']], status);
    render(el('h1', {}, 'Mail outbox'),
      el('form', { class: 'filters', on: { submit: (ev) => { ev.preventDefault(); setQuery('#/outbox', { status: sel.value }); } } },
        field('mail-status', 'Status', sel), el('button', { type: 'submit' }, 'Filter')),
      table(['Created', 'To', 'Kind', 'Status', 'Attempts', 'Last error', 'Message'], data.mail.map((m) => [
        fmtTime(m.createdAt), m.to, m.kind, el('span', { class: m.status === 'failed' ? 'badge bad' : 'badge' }, m.status),
        String(m.attempts), m.lastError || '—',
        el('details', {}, el('summary', {}, m.subject), el('pre', {}, m.textBody))])),
      pager(data, (p) => setQuery('#/outbox', { status, page: p })));
  }

  // ---- retention (/admin/retention) --------------------------------------
  const POLICY_LABELS = [
    ['securityEventsDays', 'Security events and vault audit (days)'], ['mailDays', 'Sent, logged or failed mail (days)'],
  ];
  const LIMIT_LABELS = [
    ['spacesOwned', 'Spaces owned per user'], ['sessionsPerUser', 'Sessions per user (oldest ends)'],
    ['pendingInvitationsPerSpace', 'Open invitations per space'], ['activeApiKeys', 'Active API keys per user'],
    ['revokedApiKeysKept', 'Revoked API keys kept per user'], ['settingsBytesPerUser', 'Settings bytes per user'],
    ['appsPerDevice', 'App settings per device'], ['devicesPerUser', 'Devices per user'],
    ['passkeyCeremonies', 'Open passkey ceremonies (server)'],
  ];
  const REPORT_LABELS = [
    ['securityEvents', 'Security events and vault audit'], ['mail', 'Mail'], ['expiredSessions', 'Expired sessions'],
    ['expiredTokens', 'Expired links and tickets'], ['rateLimitRows', 'Rate-limit rows'], ['closedInvitations', 'Closed invitations'],
  ];

  function kv(rows, prefix, data) {
    return table(['Setting', 'Value'], rows.map(([k, label]) => [label,
      el('span', { id: prefix + k }, data[k] === 0 && prefix === 'policy-' ? 'kept for ever' : String(data[k]))]));
  }

  async function retention() {
    const d = await api('GET', '/admin/retention');
    const last = d.lastRun;
    render(el('h1', {}, 'Retention'),
      el('p', { class: 'muted small' }, 'Old rows are removed every hour; open sessions, links, invitations and pending mail are never removed before they expire.'),
      el('h2', {}, 'Kept for'), kv(POLICY_LABELS, 'policy-', d.policy),
      el('h2', {}, 'Per-user limits'), kv(LIMIT_LABELS, 'limit-', d.limits),
      el('h2', {}, 'Last run'),
      last
        ? el('div', {}, el('p', { id: 'last-ran-at' }, fmtTime(last.ranAt)), kv(REPORT_LABELS, 'last-', last))
        : el('p', { id: 'last-ran-at', class: 'muted' }, 'Not run since the server started.'),
      el('button', { type: 'button', id: 'run-retention', on: { click: () => act(() => api('POST', '/admin/retention/run', {}), 'Retention run finished.') } }, 'Run now'));
  }

  // ---- personas (/admin/personas) ----------------------------------------
  // Their errors come as {error, details?, hint?} (the original service's
  // shape), not the envelope.
  const CADENCES = ['daily', 'weekdays', 'hourly'];

  function personaError(e) {
    const b = e.body || {};
    if (Array.isArray(b.details)) return (b.error || 'Invalid') + ': ' + b.details.join('; ');
    return [b.error || e.message, b.hint].filter(Boolean).join(' — ');
  }

  function personaForm() {
    const input = (id, attrs) => el('input', Object.assign({ id, name: id }, attrs));
    const email = input('persona-email', { type: 'email', required: true, placeholder: 'anna@mana.test', autocomplete: 'off' });
    const name = input('persona-name', { placeholder: 'default: the part before @' });
    const password = input('persona-password', { type: 'password', autocomplete: 'new-password', placeholder: 'optional: lets the runner sign in' });
    const archetype = input('persona-archetype', { required: true, placeholder: 'e.g. adhd-student' });
    const prompt = el('textarea', { id: 'persona-prompt', name: 'persona-prompt', rows: 5, required: true });
    const mix = el('textarea', { id: 'persona-mix', name: 'persona-mix', rows: 2 }, '{"todo": 0.5, "notes": 0.5}');
    const cadence = select('persona-cadence', CADENCES.map((c) => [c, c]), 'daily');
    async function submit(ev) {
      ev.preventDefault();
      let moduleMix;
      try { moduleMix = JSON.parse(mix.value); } catch (_) { say('Module mix must be JSON, e.g. {"todo": 1}', 'error'); return; }
      const body = { email: email.value.trim(), archetype: archetype.value.trim(), systemPrompt: prompt.value, moduleMix, tickCadence: cadence.value };
      if (name.value.trim()) body.name = name.value.trim();
      if (password.value) body.password = password.value;
      try {
        const r = await api('POST', '/admin/personas', body);
        password.value = '';
        say('Persona saved: ' + r.email, 'ok');
        await route();
      } catch (e) { say(personaError(e), 'error'); }
    }
    return el('form', { class: 'card persona-form', id: 'persona-form', on: { submit } },
      el('h2', {}, 'Create or update (by email)'),
      field('persona-email', 'Email', email), field('persona-name', 'Name', name),
      field('persona-password', 'Password', password), field('persona-archetype', 'Archetype', archetype),
      field('persona-prompt', 'System prompt', prompt), field('persona-mix', 'Module mix (JSON weights)', mix),
      field('persona-cadence', 'Tick cadence', cadence),
      el('button', { type: 'submit', id: 'persona-save' }, 'Save persona'));
  }

  async function personasList() {
    const data = await api('GET', '/admin/personas');
    render(el('h1', {}, 'Personas'),
      el('p', { class: 'muted small' }, 'Test accounts the persona runner signs in as. They count in no user statistic.'),
      table(['Email', 'Name', 'Archetype', 'Cadence', 'Last active', 'Actions (7 days)', 'Created'], data.personas.map((p) => [
        link('#/personas/' + encodeURIComponent(p.userId), p.email), p.name || '—', p.archetype, p.tickCadence,
        fmtTime(p.lastActiveAt), String(p.actions7d), fmtTime(p.createdAt)])),
      personaForm());
  }

  async function personaDetail(id) {
    const d = await api('GET', '/admin/personas/' + encodeURIComponent(id));
    const p = d.persona;
    const remove = async () => {
      if (!confirm('Delete the persona ' + p.email + ' with its account, actions and feedback?')) return;
      try { await api('DELETE', '/admin/personas/' + encodeURIComponent(id)); say('Persona deleted.', 'ok'); location.hash = '#/personas'; }
      catch (e) { say(personaError(e), 'error'); }
    };
    render(el('h1', {}, p.email),
      el('div', { class: 'card' }, el('dl', { class: 'props' },
        el('dt', {}, 'Id'), el('dd', {}, p.userId),
        el('dt', {}, 'Name'), el('dd', {}, p.name || '—'),
        el('dt', {}, 'Archetype'), el('dd', { id: 'persona-archetype-value' }, p.archetype),
        el('dt', {}, 'Cadence'), el('dd', {}, p.tickCadence),
        el('dt', {}, 'Last active'), el('dd', {}, fmtTime(p.lastActiveAt)),
        el('dt', {}, 'Created'), el('dd', {}, fmtTime(p.createdAt)),
        el('dt', {}, 'Module mix'), el('dd', {}, el('code', {}, JSON.stringify(p.moduleMix)))),
      el('h2', {}, 'System prompt'), el('pre', { id: 'persona-system-prompt' }, p.systemPrompt)),
      el('div', { class: 'card actions' },
        link('#/users/' + encodeURIComponent(p.userId), 'User account'),
        el('button', { type: 'button', class: 'danger', id: 'persona-delete', on: { click: remove } }, 'Delete persona')),
      el('h2', {}, 'Feedback by module'),
      table(['Module', 'Average rating', 'Ratings'], d.feedbackByModule.map((f) => [f.module, f.avgRating.toFixed(2), String(f.count)])),
      el('h2', {}, 'Recent actions'),
      table(['When', 'Tick', 'Tool', 'Result', 'Latency', 'Error'], d.recentActions.map((a) => [
        fmtTime(a.createdAt), a.tickId, a.toolName,
        el('span', { class: a.result === 'ok' ? 'badge' : 'badge bad' }, a.result),
        a.latencyMs === null ? '—' : a.latencyMs + ' ms', a.errorMessage || '—'])),
      el('h2', {}, 'Recent feedback'),
      table(['When', 'Tick', 'Module', 'Rating', 'Notes'], d.recentFeedback.map((f) => [
        fmtTime(f.createdAt), f.tickId, f.module, String(f.rating), f.notes || '—'])));
  }

  async function route() {
    if (!session) { showLogin(); return; }
    const { parts, params } = parseHash();
    try {
      switch (parts[0]) {
        case 'users': await (parts[1] ? userDetail(parts[1]) : usersList(params)); break;
        case 'spaces': await (parts[1] ? spaceDetail(parts[1]) : spacesList(params)); break;
        case 'sync': await syncBrowser(params); break;
        case 'events': await eventsBrowser(params); break;
        case 'outbox': await outbox(params); break;
        case 'retention': await retention(); break;
        case 'personas': await (parts[1] ? personaDetail(parts[1]) : personasList()); break;
        default: await dashboard();
      }
    } catch (e) {
      if (e.status === 401) { say('Your session ended; sign in again.', 'error'); showLogin(); return; }
      render(el('h1', {}, 'Error'), el('p', {}, e.message));
      say(e.message, 'error');
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', onLogin);
    $('totp-form').addEventListener('submit', onTotp);
    $('totp-cancel').addEventListener('click', () => { pendingTwoFactor = null; showLogin(); });
    $('signout').addEventListener('click', signOut);
    window.addEventListener('hashchange', route);
    showLogin();
  });
})();
