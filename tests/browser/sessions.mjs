// A user's sessions in a real browser: signed in from two browsers (a desktop Chromium and a
// phone that says it is Firefox on Android), the first opens "Your sessions", sees both (its own
// marked "this session"), and ends the other one; the phone is then sent to sign in on its next
// page. Desktop and phone screenshots, and the accessibility check, of the sessions page.

import assert from 'node:assert/strict';
import { DESKTOP, PHONE, assertAccessible, journey } from './lib.mjs';

const USER = process.env.PORTICO_USER ?? 'alice';
const PASSWORD = process.env.PORTICO_PASSWORD ?? 'alice-password';
const DESKTOP_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const PHONE_AGENT = 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0';

const path = page => new URL(page.url()).pathname;
const clean = text => (text ?? '').replace(/\s+/g, ' ').trim();

async function signIn(page, url) {
  await page.goto(url('/login'));
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(u => new URL(u).pathname.endsWith('/apis'));
}

/** The rows of the sessions table: client, whether it is this one, the button's name. */
async function sessionRows(page) {
  return page.locator('table.sessions tbody tr').evaluateAll(rows =>
    rows.map(tr => ({
      client: tr.cells[3].textContent.replace(/\s+/g, ' ').trim(),
      how: tr.cells[2].textContent.trim(),
      environments: tr.cells[4].textContent.trim(),
      thisSession: tr.querySelector('.badge')?.textContent.trim() === 'this session',
      button: tr.querySelector('button').textContent.replace(/\s+/g, ' ').trim(),
    })),
  );
}

async function fitsThePhone(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
}

await journey(async ({ url, step, shot, newPage }) => {
  const desktop = await newPage({ ...DESKTOP, userAgent: DESKTOP_AGENT });
  const phone = await newPage({ ...PHONE, userAgent: PHONE_AGENT });

  await step('signing in from two browsers', async () => {
    await signIn(desktop, url);
    await signIn(phone, url);
    return { desktop: path(desktop), phone: path(phone) };
  });

  await step('the sessions page lists both, this one marked', async () => {
    await desktop.goto(url('/environments'));
    await desktop.getByRole('link', { name: 'Your sessions' }).click();
    await desktop.waitForURL(u => new URL(u).pathname === '/account/sessions');
    assert.equal(clean(await desktop.locator('h1').textContent()), 'Your sessions');
    const rows = await sessionRows(desktop);
    assert.equal(rows.length, 2, 'two sessions');
    await shot(desktop, 'sessions desktop');
    return { rows, violations: await assertAccessible(desktop) };
  });

  await step('the sessions page on a phone', async () => {
    await phone.goto(url('/account/sessions'));
    const rows = await sessionRows(phone);
    assert.equal(rows.length, 2, 'two sessions on the phone too');
    const fits = await fitsThePhone(phone);
    assert.equal(fits, true, 'fits the phone width');
    await shot(phone, 'sessions phone');
    return { rows, fits, violations: await assertAccessible(phone) };
  });

  await step('ending the other session', async () => {
    const other = desktop.locator('table.sessions tbody tr:not(.is-current)');
    await other.getByRole('button', { name: /^End/ }).click();
    await desktop.waitForURL(u => new URL(u).pathname === '/account/sessions');
    const notice = clean(await desktop.getByRole('status').textContent());
    const rows = await sessionRows(desktop);
    await shot(desktop, 'other session ended');
    return { notice, rows, violations: await assertAccessible(desktop) };
  });

  await step('the other browser is sent to sign in on its next page', async () => {
    await phone.goto(url('/environments'));
    await phone.waitForURL(u => new URL(u).pathname === '/login');
    const heading = clean(await phone.locator('h1').textContent());
    const fits = await fitsThePhone(phone);
    await shot(phone, 'signed out phone');
    return { path: path(phone), heading, fits, violations: await assertAccessible(phone) };
  });
});
