// Signing in through the real form and out again, as a consumer would: a wrong password first,
// then the right one, the environment list with each one's state, and sign-out. Desktop and phone.

import assert from 'node:assert/strict';
import { PHONE, assertAccessible, journey } from './lib.mjs';

const USER = process.env.PORTICO_USER ?? 'alice';
const PASSWORD = process.env.PORTICO_PASSWORD ?? 'alice-password';

await journey(async ({ page, url, step, shot, newPage }) => {
  await step('a wrong password is refused with a message', async () => {
    await page.goto(url('/'));
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    const alert = (await page.getByRole('alert').textContent()).trim();
    assert.match(alert, /Wrong username or password/);
    assert.equal(await page.getByLabel('Username').inputValue(), USER, 'the username is kept');
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not echoed');
    await shot(page, 'wrong password');
    return { alert };
  });

  await step('signing in, then the environment list', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    // Signing in lands on the current environment's catalog; its bar links to the list.
    await page.waitForURL(u => new URL(u).pathname.endsWith('/apis'));
    await page.getByRole('link', { name: 'Environment list' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/environments');
    assert.equal(await page.locator('h1').textContent(), 'Environment');
    const entries = await page.locator('ul.environments > li').evaluateAll(items =>
      items.map(li => ({
        name: li.querySelector('.env-name')?.textContent.trim(),
        badges: [...li.querySelectorAll('.badge')].map(b => b.textContent.trim()),
        reason: li.querySelector('.muted')?.textContent.trim() ?? null,
      })),
    );
    await shot(page, 'environments desktop');
    return { entries, violations: await assertAccessible(page) };
  });

  await step('the session cookie is HttpOnly', async () => {
    const cookies = await page.context().cookies();
    const session = cookies.find(c => c.name === 'portico_session');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(await page.evaluate(() => document.cookie.includes('portico_session')), false);
    return {};
  });

  await step('environments on a phone', async () => {
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    await phone.goto(url('/environments'));
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    assert.equal(overflow, false, 'fits the phone width');
    await shot(phone, 'environments phone');
    await phone.context().close();
    return {};
  });

  await step('signing out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/login');
    await shot(page, 'signed out');
    const response = await page.goto(url('/environments'));
    assert.equal(new URL(page.url()).pathname, '/login', 'the environments need signing in again');
    assert.equal(response.status(), 200);
    return {};
  });
});
