// Single sign-on in a real browser: "Sign in with …" on Portico's sign-in page, the provider's
// login and consent forms (oidc-provider's development interactions), back to Portico signed in,
// the environment list, and sign-out that ends at the provider too.

import assert from 'node:assert/strict';
import { assertAccessible, journey } from './lib.mjs';

const PROVIDER = process.env.PORTICO_PROVIDER_NAME ?? 'Test IdP';
const USER = process.env.PORTICO_USER ?? 'alice';

await journey(async ({ page, url, step, shot }) => {
  await step('the sign-in page offers single sign-on', async () => {
    await page.goto(url('/'));
    const button = page.getByRole('link', { name: `Sign in with ${PROVIDER}` });
    assert.equal(await button.count(), 1);
    await shot(page, 'sign-in page');
    return { violations: await assertAccessible(page) };
  });

  await step('signing in at the provider', async () => {
    await page.getByRole('link', { name: `Sign in with ${PROVIDER}` }).click();
    await page.waitForSelector('input[name="login"]');
    const provider = new URL(page.url()).origin;
    await shot(page, 'provider login');
    await page.fill('input[name="login"]', USER);
    await page.fill('input[name="password"]', 'any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    // Back at Portico, on the current environment's catalog.
    await page.waitForURL(u => u.href.startsWith(url('/')) && u.pathname.endsWith('/apis'));
    await shot(page, 'signed in');
    return { provider };
  });

  await step('the environment list', async () => {
    await page.goto(url('/environments'));
    const entries = await page.locator('ul.environments > li').evaluateAll(items =>
      items.map(li => ({
        name: li.querySelector('.env-name')?.textContent.trim(),
        badges: [...li.querySelectorAll('.badge')].map(b => b.textContent.trim()),
      })),
    );
    const account = (await page.getByRole('navigation', { name: 'Account' }).textContent()).replace(/\s+/g, ' ').trim();
    await shot(page, 'environments');
    return { entries, account, violations: await assertAccessible(page) };
  });

  await step('signing out ends the session at the provider too', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    // The provider asks for confirmation, then sends the browser back to Portico's sign-in page.
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(u => u.href.startsWith(url('/login')));
    await shot(page, 'signed out');
    await page.goto(url('/environments'));
    assert.equal(new URL(page.url()).pathname, '/login', 'signed out of Portico');
    return {};
  });
});
