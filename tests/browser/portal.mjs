// The consumer journey in a real browser: sign in, the environment picker with health, pick an
// environment, search and open an API, create an application (a refused one first), switch
// environment from the header, the pages on a phone, sign out. A screenshot of every page.

import assert from 'node:assert/strict';
import { PHONE, assertAccessible, journey } from './lib.mjs';

const USER = process.env.PORTICO_USER ?? 'alice';
const PASSWORD = process.env.PORTICO_PASSWORD ?? 'alice-password';
const APP_NAME = process.env.PORTICO_APP_NAME ?? 'Journey App';

const path = page => new URL(page.url()).pathname;
const texts = async locator => (await locator.allTextContents()).map(t => t.replace(/\s+/g, ' ').trim());

await journey(async ({ page, url, step, shot, newPage }) => {
  await step('signing in lands on the current catalog', async () => {
    await page.goto(url('/'));
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(u => new URL(u).pathname.endsWith('/apis'));
    assert.equal(await page.locator('h1').textContent(), 'APIs');
    const environment = (await page.locator('.env-title').textContent()).trim();
    const apis = await texts(page.locator('.card h2'));
    await shot(page, 'catalog after sign-in');
    return { path: path(page), environment, apis, violations: await assertAccessible(page) };
  });

  await step('the picker shows each environment with its health', async () => {
    await page.getByRole('link', { name: 'Environment list' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/environments');
    assert.equal(await page.locator('h1').textContent(), 'Environment');
    const entries = await page.locator('ul.environments > li').evaluateAll(items =>
      items.map(li => ({
        name: li.querySelector('.env-name')?.textContent.trim(),
        badges: [...li.querySelectorAll('.badge')].map(b => b.textContent.trim()),
        health: li.querySelector('.health')?.textContent.replace(/\s+/g, ' ').trim(),
      })),
    );
    await shot(page, 'environment picker');
    return { entries, violations: await assertAccessible(page) };
  });

  await step('picking an environment opens its catalog', async () => {
    await page.getByRole('button', { name: 'Select Production EU' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/environments/prod-eu/apis');
    const environment = (await page.locator('.env-title').textContent()).trim();
    const selected = await page.locator('#environment-switch option:checked').textContent();
    const apis = await texts(page.locator('.card h2'));
    await shot(page, 'production eu catalog');
    return { environment, selected: selected.trim(), apis };
  });

  await step('searching the catalog by name', async () => {
    await page.getByLabel('Search APIs by name').fill('vat');
    await page.keyboard.press('Enter');
    await page.waitForURL(u => new URL(u).search === '?q=vat');
    const apis = await texts(page.locator('.card h2'));
    const footnote = (await page.locator('.footnote').textContent()).replace(/\s+/g, ' ').trim();
    await shot(page, 'catalog search');
    return { apis, footnote };
  });

  await step('opening an API shows its operations and definition', async () => {
    await page.getByRole('link', { name: 'EU VAT' }).click();
    await page.waitForURL(u => new URL(u).pathname.startsWith('/environments/prod-eu/apis/'));
    const title = await page.locator('h1').textContent();
    const operations = await texts(page.locator('ul.operations li'));
    const raw = page.locator('details.raw pre');
    assert.equal(await raw.isVisible(), false, 'the raw definition starts folded');
    await page.getByText('Definition document (JSON)').click();
    assert.equal(await raw.isVisible(), true, 'and unfolds');
    const definition = JSON.parse(await raw.textContent());
    await shot(page, 'api detail');
    return { title, operations, swagger: definition.swagger, violations: await assertAccessible(page) };
  });

  await step('an application without a name is refused with a message', async () => {
    await page.getByRole('link', { name: 'Applications' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/environments/prod-eu/applications');
    const before = await texts(page.locator('ul.apps .app-name'));
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.waitForLoadState();
    const error = (await page.locator('.field-error').textContent()).trim();
    assert.equal(await page.getByLabel('Name').getAttribute('aria-invalid'), 'true');
    await shot(page, 'application refused');
    return { before, error };
  });

  await step('creating an application', async () => {
    await page.getByLabel('Name').fill(APP_NAME);
    await page.getByLabel('Description (optional)').fill('Made by the browser journey');
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/environments/prod-eu/applications');
    const notice = (await page.getByRole('status').first().textContent()).trim();
    const after = await texts(page.locator('ul.apps .app-name'));
    await shot(page, 'application created');
    return { notice, after, violations: await assertAccessible(page) };
  });

  await step('switching environment from the header', async () => {
    await page.getByLabel('Environment', { exact: true }).selectOption({ label: 'Staging' });
    await page.getByRole('button', { name: 'Switch' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/environments/staging/apis');
    const environment = (await page.locator('.env-title').textContent()).trim();
    const apis = await texts(page.locator('.card h2'));
    await shot(page, 'staging catalog');
    return { environment, apis };
  });

  await step('the pages fit a phone', async () => {
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    const widths = {};
    for (const [name, target] of [
      ['catalog', '/environments/staging/apis'],
      ['api', '/environments/prod-eu/apis/eu-api-vat'],
      ['applications', '/environments/prod-eu/applications'],
      ['picker', '/environments'],
    ]) {
      await phone.goto(url(target));
      const overflow = await phone.evaluate(
        () => document.documentElement.scrollWidth > document.documentElement.clientWidth,
      );
      assert.equal(overflow, false, `${name} fits the phone width`);
      widths[name] = await phone.evaluate(() => document.documentElement.scrollWidth);
      await shot(phone, `${name} phone`);
    }
    await phone.context().close();
    return { widths };
  });

  await step('signing out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(u => new URL(u).pathname === '/login');
    await shot(page, 'signed out');
    await page.goto(url('/environments/prod-eu/applications'));
    assert.equal(path(page), '/login', 'the pages need signing in again');
    return {};
  });
});
