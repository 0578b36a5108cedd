// The admin journey in a real browser: sign in (a wrong password first), the dashboard, add a
// slave manager (a mistake first, then the right values), test its connection, change the
// login-failure policy, purge the caches, read the audit log, the pages on a phone, sign out.

import assert from 'node:assert/strict';
import { PHONE, assertAccessible, journey } from './lib.mjs';

const ADMIN = process.env.PORTICO_ADMIN ?? 'root';
const PASSWORD = process.env.PORTICO_ADMIN_PASSWORD ?? 'admin-password-123';
const SLAVE_URL = process.env.PORTICO_SLAVE_URL ?? 'http://127.0.0.1:9';

const path = page => new URL(page.url()).pathname;
const clean = text => (text ?? '').replace(/\s+/g, ' ').trim();
const flash = async page => clean(await page.locator('.notice.flash').textContent());

await journey(async ({ page, url, step, shot, newPage }) => {
  await step('a wrong password is refused with a message', async () => {
    await page.goto(url('/admin'));
    await page.waitForURL(u => new URL(u).pathname === '/admin/login');
    assert.equal(await page.locator('h1').textContent(), 'Admin sign-in');
    await page.getByLabel('Admin name').fill(ADMIN);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    const alert = clean(await page.getByRole('alert').textContent());
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not echoed');
    await shot(page, 'admin sign-in refused');
    return { alert, violations: await assertAccessible(page) };
  });

  await step('signing in opens the dashboard', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(u => new URL(u).pathname === '/admin');
    const managers = await page.locator('ul.managers > li').evaluateAll(items =>
      items.map(li => ({
        name: li.querySelector('.env-name')?.textContent.trim(),
        badges: [...li.querySelectorAll('.badge')].map(b => b.textContent.trim()),
      })),
    );
    const sessions = clean(await page.locator('#figure-sessions').textContent());
    const cookie = (await page.context().cookies()).find(c => c.name === 'portico_session_admin');
    assert.ok(cookie, 'admin cookie set');
    await shot(page, 'dashboard');
    return {
      heading: await page.locator('h1').textContent(),
      current: clean(await page.locator('nav.admin-nav a[aria-current="page"]').textContent()),
      managers,
      sessions,
      cookie: { path: cookie.path, sameSite: cookie.sameSite, httpOnly: cookie.httpOnly },
      violations: await assertAccessible(page),
    };
  });

  await step('a slave with a bad id is refused with the message next to the field', async () => {
    await page.getByRole('link', { name: 'Slave managers' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/slaves');
    await page.getByRole('link', { name: 'Add a slave manager' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/slaves/new');
    await page.getByLabel('Id', { exact: true }).fill('Prod US');
    await page.getByLabel('Name', { exact: true }).fill('Production US');
    await page.getByLabel('Address').fill(SLAVE_URL);
    await page.getByLabel('Timeout').fill('3s');
    await page.getByRole('button', { name: 'Add slave manager' }).click();
    await page.waitForLoadState();
    const id = page.getByLabel('Id', { exact: true });
    const described = await id.evaluate(el =>
      el.getAttribute('aria-describedby').split(' ').map(ref => document.getElementById(ref).textContent.trim()),
    );
    assert.equal(await id.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'Production US', 'what was typed is kept');
    await shot(page, 'slave form with an error');
    return { described, violations: await assertAccessible(page) };
  });

  await step('adding the slave', async () => {
    await page.getByLabel('Id', { exact: true }).fill('prod-us');
    await page.getByRole('button', { name: 'Add slave manager' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/slaves');
    const slaves = await page.locator('ul.slaves > li').evaluateAll(items =>
      items.map(li => ({
        name: li.querySelector('.env-name')?.textContent.trim(),
        badges: [...li.querySelectorAll('.badge')].map(b => b.textContent.trim()),
        editable: li.querySelector('a[href$="/edit"]') !== null,
      })),
    );
    await shot(page, 'slave list');
    return { flash: await flash(page), slaves, violations: await assertAccessible(page) };
  });

  await step('testing the new slave', async () => {
    await page.getByRole('button', { name: 'Test connection to Production US' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/slaves/prod-us/test');
    const checks = await page.locator('ul.checks > li').evaluateAll(items =>
      items.map(li => ({
        name: li.querySelector('.check-name').textContent.trim(),
        result: li.querySelector('.badge').textContent.trim(),
      })),
    );
    await shot(page, 'connection test');
    return {
      summary: clean(await page.locator('#test-summary').textContent()),
      checks,
      violations: await assertAccessible(page),
    };
  });

  await step('changing the login-failure policy', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/settings');
    await page.getByLabel(/^All:/).check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/settings');
    const checked = await page.locator('input[name="login_failure_policy"]:checked').getAttribute('value');
    const source = clean(await page.locator('#policy-source').textContent());
    await shot(page, 'settings saved');
    return { flash: await flash(page), checked, source, violations: await assertAccessible(page) };
  });

  await step('purging the caches', async () => {
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin');
    await page.getByRole('button', { name: 'Purge caches' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin');
    const message = await flash(page);
    await shot(page, 'caches purged');
    return { flash: message, entries: clean(await page.locator('#figure-cache-entries').textContent()) };
  });

  await step('reading the audit log', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/audit');
    const rows = await page.locator('table.audit tbody tr').evaluateAll(rows =>
      rows.map(tr => ({
        who: tr.querySelector('.who').textContent.trim(),
        what: tr.querySelector('.what code').textContent.trim(),
        changes: [...tr.querySelectorAll('.changes li')].map(li => li.textContent.replace(/\s+/g, ' ').trim()),
      })),
    );
    await shot(page, 'audit log');
    return { rows, violations: await assertAccessible(page) };
  });

  await step('the admin pages fit a phone', async () => {
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    const overflowing = [];
    for (const p of ['/admin', '/admin/slaves', '/admin/slaves/new', '/admin/settings', '/admin/audit']) {
      await phone.goto(url(p));
      assert.equal(path(phone), p, `${p} opens signed in`);
      const wide = await phone.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
      if (wide) overflowing.push(p);
      if (p === '/admin' || p === '/admin/audit') await shot(phone, `phone ${p.slice(1).replace('/', ' ')}`);
    }
    await phone.context().close();
    return { overflowing };
  });

  await step('signing out ends the admin session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/admin/login');
    await page.goto(url('/admin/audit'));
    assert.equal(path(page), '/admin/login', 'the admin pages need signing in again');
    await shot(page, 'signed out');
    return {};
  });
});
