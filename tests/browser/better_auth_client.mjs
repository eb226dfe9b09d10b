// Drives mana-auth with the real `better-auth/client` (the version pinned in
// package.json) and its organization, two-factor, magic-link and JWT
// plugins, as an app built on Better Auth would: sign-up, sign-in, session
// management, the account routes, the mailed flows, organizations, the
// second factor and magic links. For tests/api/better_auth_client.rs.
//
//   node better_auth_client.mjs <baseUrl> <appOrigin>
//
// What only the test can give (a mailed link, a TOTP code at the server's
// clock) is asked for with one JSON line on stdout ({"ask": ...}) and
// answered with one line on stdin. The last stdout line is the report:
// {"steps": n, "failures": [...]}; the exit status is 0 only without
// failures.
import { createInterface } from 'node:readline';
import { createAuthClient } from 'better-auth/client';
import {
  jwtClient,
  magicLinkClient,
  organizationClient,
  twoFactorClient,
} from 'better-auth/client/plugins';

const [base, appOrigin] = process.argv.slice(2);
if (!base || !appOrigin) {
  console.error('usage: node better_auth_client.mjs <baseUrl> <appOrigin>');
  process.exit(2);
}

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(question) {
  process.stdout.write(JSON.stringify({ ask: question }) + '\n');
  const { value, done } = await answers.next();
  if (done) throw new Error('the test closed stdin');
  return value.trim();
}

// One browser: a cookie jar and the app's Origin on every request.
function browser() {
  const cookies = new Map();
  const customFetchImpl = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) {
      headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    headers.set('origin', appOrigin);
    const res = await fetch(input, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [kv, ...attrs] = c.split(';');
      const at = kv.indexOf('=');
      const name = kv.slice(0, at).trim();
      const value = kv.slice(at + 1);
      if (!value || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) cookies.delete(name);
      else cookies.set(name, value);
    }
    return res;
  };
  const client = createAuthClient({
    baseURL: base,
    fetchOptions: { customFetchImpl },
    plugins: [organizationClient(), twoFactorClient(), magicLinkClient(), jwtClient()],
  });
  jars.set(client, cookies);
  return client;
}
// The client is a proxy that turns every property into a route, so the
// jars are kept beside it.
const jars = new Map();
const cookieOf = (client) => jars.get(client).get('mana.session_token');

const failures = [];
let steps = 0;
function check(step, ok, detail) {
  steps += 1;
  if (!ok) failures.push({ step, detail });
}
// Runs one client call; a thrown error counts as a failure of the step.
async function call(step, fn, expect) {
  let res;
  try {
    res = await fn();
  } catch (e) {
    check(step, false, 'threw: ' + (e && e.stack ? e.stack : String(e)));
    return { data: null, error: { message: String(e) } };
  }
  let ok = false;
  try {
    ok = expect(res);
  } catch (e) {
    ok = false;
  }
  check(step, ok, JSON.stringify({ data: res.data, error: res.error }));
  return res;
}
const succeeded = (res) => res.error === null && res.data !== null;
const refused = (status, code) => (res) =>
  res.data === null && res.error && res.error.status === status && (!code || res.error.code === code);
const tokenOf = (link) => {
  const url = new URL(link);
  return url.searchParams.get('token') || url.pathname.split('/').pop();
};
const mailToken = async (kind, to) => tokenOf(await ask({ mail: kind, to }));

const P1 = 'first-password-1';
const P2 = 'second-password-2';
const P3 = 'third-password-3';
const ana = browser();
const ben = browser();

// --- sign-up, sign-in, the session ----------------------------------------
await call('sign-up/email', () => ana.signUp.email({ email: 'ana@example.com', password: P1, name: 'Ana' }),
  (r) => succeeded(r) && r.data.user.email === 'ana@example.com' && typeof r.data.token === 'string');
await call('sign-up/email (taken)', () => browser().signUp.email({ email: 'ana@example.com', password: P1, name: 'X' }),
  (r) => r.data === null && r.error.status >= 400 && r.error.status < 500);
await call('get-session', () => ana.getSession(),
  (r) => succeeded(r) && r.data.user.email === 'ana@example.com' && typeof r.data.session.id === 'string');
await call('sign-out', () => ana.signOut(), (r) => succeeded(r) && r.data.success === true);
await call('get-session (signed out)', () => ana.getSession(), (r) => r.error === null && r.data === null);
await call('sign-in/email (wrong password)', () => ana.signIn.email({ email: 'ana@example.com', password: 'not-the-password' }),
  refused(401, 'INVALID_EMAIL_OR_PASSWORD'));
await call('sign-in/email', () => ana.signIn.email({ email: 'ana@example.com', password: P1 }),
  (r) => succeeded(r) && r.data.user.email === 'ana@example.com' && typeof r.data.token === 'string');
await call('token (jwt plugin)', () => ana.token(), (r) => succeeded(r) && r.data.token.split('.').length === 3);

// --- the account routes ----------------------------------------------------
await call('update-user', () => ana.updateUser({ name: 'Ana B', image: 'https://img.example.com/a.png' }),
  (r) => succeeded(r) && r.data.status === true);
await call('get-session (updated)', () => ana.getSession(),
  (r) => succeeded(r) && r.data.user.name === 'Ana B' && r.data.user.image === 'https://img.example.com/a.png');
await call('update-user (email)', () => ana.updateUser({ email: 'x@example.com' }),
  refused(400, 'EMAIL_CAN_NOT_BE_UPDATED'));
await call('list-accounts', () => ana.listAccounts(),
  (r) => succeeded(r) && r.data.length === 1 && r.data[0].providerId === 'credential');

// Three sessions of one user: list, revoke one, revoke the others.
const ana2 = browser();
const ana3 = browser();
await call('sign-in/email (second device)', () => ana2.signIn.email({ email: 'ana@example.com', password: P1 }), succeeded);
await call('sign-in/email (third device)', () => ana3.signIn.email({ email: 'ana@example.com', password: P1 }), succeeded);
const mine = cookieOf(ana);
const sessions = await call('list-sessions', () => ana.listSessions(),
  (r) => succeeded(r) && r.data.length === 3 && r.data.every((s) => typeof s.id === 'string' && typeof s.expiresAt !== 'undefined'));
const second = (await ana2.getSession()).data;
await call('revoke-session', () => ana.revokeSession({ token: (sessions.data || []).find((s) => s.id === second.session.id).token }),
  (r) => succeeded(r) && r.data.status === true);
await call('get-session (revoked)', () => ana2.getSession(), (r) => r.error === null && r.data === null);
await call('list-sessions (revoked session)', () => ana2.listSessions(), refused(401));
await call('revoke-other-sessions', () => ana.revokeOtherSessions(), (r) => succeeded(r) && r.data.status === true);
await call('get-session (other revoked)', () => ana3.getSession(), (r) => r.error === null && r.data === null);
await call('get-session (kept)', () => ana.getSession(), (r) => succeeded(r) && r.data.user.email === 'ana@example.com');
check('session cookie unchanged', typeof mine === 'string' && cookieOf(ana) === mine,
  JSON.stringify({ before: mine, after: cookieOf(ana) }));

await call('change-password (wrong current)', () => ana.changePassword({ currentPassword: 'not-the-password', newPassword: P2 }),
  refused(400, 'INVALID_PASSWORD'));
await ana2.signIn.email({ email: 'ana@example.com', password: P1 });
await call('change-password', () => ana.changePassword({ currentPassword: P1, newPassword: P2, revokeOtherSessions: true }),
  (r) => succeeded(r) && typeof r.data.token === 'string' && r.data.user.email === 'ana@example.com');
await call('get-session (ended by change-password)', () => ana2.getSession(), (r) => r.error === null && r.data === null);
await call('sign-in/email (new password)', () => ana.signIn.email({ email: 'ana@example.com', password: P2 }), succeeded);

await call('change-email', () => ana.changeEmail({ newEmail: 'ana.new@example.com' }),
  (r) => succeeded(r) && r.data.status === true);
const changeToken = await mailToken('email_change', 'ana.new@example.com');
await call('verify-email (address change)', () => ana.verifyEmail({ query: { token: changeToken } }), succeeded);
await call('get-session (new address)', () => ana.getSession(),
  (r) => succeeded(r) && r.data.user.email === 'ana.new@example.com');

// --- verification and password reset by mail -------------------------------
await call('sign-up/email (ben)', () => ben.signUp.email({ email: 'ben@example.com', password: P1, name: 'Ben' }),
  (r) => succeeded(r) && r.data.user.emailVerified === false);
await call('send-verification-email', () => ben.sendVerificationEmail({ email: 'ben@example.com' }),
  (r) => succeeded(r) && r.data.status === true);
const verifyToken = await mailToken('verification', 'ben@example.com');
await call('verify-email', () => ben.verifyEmail({ query: { token: verifyToken } }),
  (r) => succeeded(r) && r.data.status === true);
await call('verify-email (replayed)', () => ben.verifyEmail({ query: { token: verifyToken } }), refused(401, 'INVALID_TOKEN'));
await call('get-session (verified)', () => ben.getSession(), (r) => succeeded(r) && r.data.user.emailVerified === true);

await call('request-password-reset', () => ana.requestPasswordReset({ email: 'ana.new@example.com', redirectTo: '/reset' }),
  (r) => succeeded(r) && r.data.status === true);
await call('forget-password', () => ana.$fetch('/forget-password', { method: 'POST', body: { email: 'nobody@example.com', redirectTo: '/reset' } }),
  (r) => succeeded(r) && r.data.status === true);
const resetToken = await mailToken('password_reset', 'ana.new@example.com');
await call('reset-password (too short)', () => ana.resetPassword({ newPassword: 'short', token: resetToken }),
  refused(400, 'PASSWORD_TOO_SHORT'));
await call('reset-password', () => ana.resetPassword({ newPassword: P3, token: resetToken }),
  (r) => succeeded(r) && r.data.status === true);
await call('reset-password (replayed)', () => ana.resetPassword({ newPassword: P1, token: resetToken }), refused(400, 'INVALID_TOKEN'));
await call('get-session (ended by reset)', () => ana.getSession(), (r) => r.error === null && r.data === null);
await call('sign-in/email (reset password)', () => ana.signIn.email({ email: 'ana.new@example.com', password: P3 }), succeeded);

// --- organizations ---------------------------------------------------------
const org = await call('organization/create', () => ana.organization.create({ name: 'Club', slug: 'ba-club', metadata: { type: 'club' } }),
  (r) => succeeded(r) && r.data.slug === 'ba-club' && typeof r.data.id === 'string');
const orgId = org.data && org.data.id;
await call('organization/list', () => ana.organization.list(), (r) => succeeded(r) && r.data.some((o) => o.id === orgId));
await call('organization/set-active', () => ana.organization.setActive({ organizationId: orgId }),
  (r) => succeeded(r) && r.data.id === orgId);
const invitation = await call('organization/invite-member',
  () => ana.organization.inviteMember({ email: 'ben@example.com', role: 'member', organizationId: orgId }),
  (r) => succeeded(r) && r.data.status === 'pending');
await call('organization/list-invitations', () => ana.organization.listInvitations({ query: { organizationId: orgId } }),
  (r) => succeeded(r) && r.data.length === 1);
await call('organization/list-user-invitations', () => ben.organization.listUserInvitations(),
  (r) => succeeded(r) && r.data.length === 1 && r.data[0].organizationId === orgId);
await call('organization/list-user-invitations (other user)', () => ana.organization.listUserInvitations(),
  (r) => succeeded(r) && r.data.length === 0);
await call('organization/get-invitation', () => ben.organization.getInvitation({ query: { id: invitation.data.id } }),
  (r) => succeeded(r) && r.data.organizationName === 'Club');
await call('organization/accept-invitation', () => ben.organization.acceptInvitation({ invitationId: invitation.data.id }),
  (r) => succeeded(r) && r.data.member.role === 'member');
const members = await call('organization/list-members', () => ana.organization.listMembers({ query: { organizationId: orgId } }),
  (r) => succeeded(r) && r.data.members.length === 2);
const benMember = ((members.data && members.data.members) || []).find((m) => m.user && m.user.email === 'ben@example.com');
await call('organization/get-full-organization', () => ana.organization.getFullOrganization({ query: { organizationId: orgId } }),
  (r) => succeeded(r) && r.data.members.length === 2);
await call('organization/update-member-role (not an admin)',
  () => ben.organization.updateMemberRole({ memberId: benMember.id, role: 'owner', organizationId: orgId }),
  (r) => r.data === null && r.error.status === 403);
await call('organization/update-member-role',
  () => ana.organization.updateMemberRole({ memberId: benMember.id, role: 'admin', organizationId: orgId }),
  (r) => succeeded(r) && r.data.role === 'admin');
await call('organization/get-active-member', () => ana.organization.getActiveMember(), (r) => succeeded(r) && r.data.role === 'owner');
await call('organization/update', () => ana.organization.update({ data: { name: 'Club 2' }, organizationId: orgId }),
  (r) => succeeded(r) && r.data.name === 'Club 2');
await call('organization/remove-member (by user id)',
  () => ana.organization.removeMember({ memberIdOrEmail: benMember.userId, organizationId: orgId }),
  (r) => succeeded(r) && r.data.member.userId === benMember.userId);
await call('organization/delete', () => ana.organization.delete({ organizationId: orgId }), succeeded);

// --- two-factor ------------------------------------------------------------
const enabled = await call('two-factor/enable', () => ana.twoFactor.enable({ password: P3 }),
  (r) => succeeded(r) && r.data.totpURI.startsWith('otpauth://totp/') && r.data.backupCodes.length >= 8);
const uri = enabled.data && enabled.data.totpURI;
await call('two-factor/verify-totp (enable)', async () => ana.twoFactor.verifyTotp({ code: await ask({ totp: uri }) }), succeeded);
await call('get-session (2fa on)', () => ana.getSession(), (r) => succeeded(r) && r.data.user.twoFactorEnabled === true);
await call('two-factor/get-totp-uri', () => ana.twoFactor.getTotpUri({ password: P3 }), (r) => succeeded(r) && r.data.totpURI === uri);
const codes = await call('two-factor/generate-backup-codes', () => ana.twoFactor.generateBackupCodes({ password: P3 }),
  (r) => succeeded(r) && r.data.backupCodes.length >= 8);
const t1 = browser();
await call('sign-in/email (second factor due)', () => t1.signIn.email({ email: 'ana.new@example.com', password: P3 }),
  (r) => succeeded(r) && r.data.twoFactorRedirect === true);
await call('two-factor/verify-totp (wrong)', () => t1.twoFactor.verifyTotp({ code: '000000' }), refused(401, 'INVALID_CODE'));
await call('two-factor/verify-totp', async () => t1.twoFactor.verifyTotp({ code: await ask({ totp: uri }) }),
  (r) => succeeded(r) && typeof r.data.token === 'string');
await call('get-session (after totp)', () => t1.getSession(), (r) => succeeded(r) && r.data.user.email === 'ana.new@example.com');
const t2 = browser();
await t2.signIn.email({ email: 'ana.new@example.com', password: P3 });
await call('two-factor/verify-backup-code', () => t2.twoFactor.verifyBackupCode({ code: codes.data.backupCodes[0] }),
  (r) => succeeded(r) && typeof r.data.token === 'string');
await call('two-factor/disable', () => ana.twoFactor.disable({ password: P3 }), (r) => succeeded(r) && r.data.status === true);

// --- magic link ------------------------------------------------------------
const m = browser();
await call('sign-in/magic-link', () => m.signIn.magicLink({ email: 'ben@example.com' }),
  (r) => succeeded(r) && r.data.status === true);
const magic = await mailToken('magic_link', 'ben@example.com');
await call('magic-link/verify', () => m.magicLink.verify({ query: { token: magic } }),
  (r) => succeeded(r) && typeof r.data.token === 'string');
await call('get-session (magic link)', () => m.getSession(), (r) => succeeded(r) && r.data.user.email === 'ben@example.com');
// A spent link: to the error callback (the framework's default "/").
await call('magic-link/verify (replayed)', () => browser().magicLink.verify({ query: { token: magic } }),
  (r) => r.data === null && r.error.status === 302);

// --- deletion --------------------------------------------------------------
await call('delete-user (wrong password)', () => ben.deleteUser({ password: 'not-the-password' }), refused(400, 'INVALID_PASSWORD'));
await call('delete-user', () => ben.deleteUser({ password: P1 }), (r) => succeeded(r) && r.data.success === true);
await call('get-session (deleted)', () => m.getSession(), (r) => r.error === null && r.data === null);
await call('revoke-sessions', () => ana.revokeSessions(), (r) => succeeded(r) && r.data.status === true);
await call('get-session (all revoked)', () => t1.getSession(), (r) => r.error === null && r.data === null);

process.stdout.write(JSON.stringify({ steps, failures }) + '\n');
process.exit(failures.length ? 1 : 0);
