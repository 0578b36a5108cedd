// The credential connections in a real browser: the admin opens /admin/credentials, sees each
// connection's state, consents to an authorization-code connection at the provider (another
// site: the admin cookie is SameSite=Strict, so the way back must not depend on it), comes back
// to a connected state, and the page fits a phone.

import assert from 'node:assert/strict';
import { PHONE, assertAccessible, journey } from './lib.mjs';

const ADMIN = process.env.PORTICO_ADMIN ?? 'root';
const PASSWORD = process.env.PORTICO_ADMIN_PASSWORD ?? 'admin-password-123';

const path = page => new URL(page.url()).pathname;
const clean = text => (text ?? '').replace(/\s+/g, ' ').trim();
const states = page =>
  page.locator('ul.managers > li').evaluateAll(items =>
    items.map(li => ({
      id: li.querySelector('.env-name')?.textContent.trim(),
      badges: [...li.querySelectorAll('.badge')].map(b => b.textContent.trim()),
    })),
  );

await journey(async ({ page, url, step, shot, newPage }) => {
  await step('signing in leads to the credentials', async () => {
    await page.goto(url('/admin/credentials'));
    await page.waitForURL(u => new URL(u).pathname === '/admin/login');
    await page.getByLabel('Admin name').fill(ADMIN);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/credentials');
    await shot(page, 'credentials before consent');
    return {
      heading: await page.locator('h1').textContent(),
      current: clean(await page.locator('nav.admin-nav a[aria-current="page"]').textContent()),
      connections: await states(page),
      violations: await assertAccessible(page),
    };
  });

  await step('consenting at the provider', async () => {
    await page.getByRole('link', { name: 'Connect reports' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/credentials/callback');
    const heading = await page.locator('h1').textContent();
    const message = clean(await page.getByRole('status').textContent());
    await shot(page, 'consent given');
    await page.getByRole('link', { name: 'Back to the credentials' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/credentials');
    await shot(page, 'credentials after consent');
    return { heading, message, connections: await states(page) };
  });

  await step('the page fits a phone', async () => {
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    await phone.goto(url('/admin/credentials'));
    assert.equal(path(phone), '/admin/credentials', 'opens signed in');
    const wide = await phone.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    await shot(phone, 'phone credentials');
    await phone.context().close();
    return { wide };
  });
});
