// The sign-in form for OIDC-style flows: posts to the Better Auth-compatible
// routes, asks for a second factor when the account has one, then follows
// `callbackURL` (the server refuses callbacks outside the allowed origins;
// this page checks again before it navigates: the target is resolved with
// the URL parser against this page's origin and followed only to an origin
// the server lists in <meta name="mana-allowed-origins">).
'use strict';

(function () {
  const params = new URLSearchParams(window.location.search);
  const callbackURL = params.get('callbackURL') || params.get('callbackUrl') || undefined;
  const $ = (id) => document.getElementById(id);
  const message = $('message');
  const meta = document.querySelector('meta[name="mana-allowed-origins"]');
  const allowed = ((meta && meta.content) || '').split(' ').filter(Boolean);

  // The absolute URL to go to, or null: no whitespace or control characters
  // (a browser drops a tab from `/\t/evil`, making it `//evil`), no
  // backslashes, http(s) only, no credentials, an allowed origin.
  function safeTarget(target) {
    if (typeof target !== 'string' || target === '') return null;
    if (/[\s\u0000-\u001f\u007f-\u009f\\]/.test(target)) return null;
    let u;
    try { u = new URL(target, window.location.origin); } catch (_) { return null; }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    if (u.username || u.password) return null;
    if (u.origin !== window.location.origin && !allowed.includes(u.origin)) return null;
    return u.href;
  }

  function show(text, ok) {
    message.textContent = text;
    message.className = ok ? 'ok' : '';
    message.hidden = false;
  }

  async function post(path, body) {
    const res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty body */ }
    return { ok: res.ok, status: res.status, data };
  }

  function errorText(r) {
    const m = r.data && r.data.message;
    if (r.status === 401) return 'Wrong email or password.';
    if (r.status === 429) return 'Too many attempts. Please wait a moment and try again.';
    return m || ('Sign-in failed (' + r.status + ').');
  }

  function done(data) {
    const target = (data && data.url) || callbackURL;
    if (!target) {
      show('You are signed in.', true);
      return;
    }
    const to = safeTarget(target);
    if (to) {
      window.location.assign(to);
    } else {
      show('You are signed in, but the callbackURL is not allowed.');
    }
  }

  $('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    message.hidden = true;
    $('submit').disabled = true;
    try {
      const body = { email: $('email').value.trim(), password: $('password').value };
      if (callbackURL) body.callbackURL = callbackURL;
      const r = await post('/api/auth/sign-in/email', body);
      if (!r.ok) { show(errorText(r)); return; }
      if (r.data && r.data.twoFactorRedirect) {
        $('password-form').hidden = true;
        $('code-form').hidden = false;
        $('code').focus();
        return;
      }
      done(r.data);
    } catch (err) {
      show('The server cannot be reached.');
    } finally {
      $('submit').disabled = false;
    }
  });

  $('code-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    message.hidden = true;
    $('verify').disabled = true;
    try {
      const code = $('code').value.trim();
      const digits = /^\d{6}$/.test(code);
      const path = digits ? '/api/auth/two-factor/verify-totp' : '/api/auth/two-factor/verify-backup-code';
      const r = await post(path, { code });
      if (!r.ok) { show(r.status === 401 ? 'That code is not valid.' : errorText(r)); return; }
      done(r.data);
    } catch (err) {
      show('The server cannot be reached.');
    } finally {
      $('verify').disabled = false;
    }
  });
})();
