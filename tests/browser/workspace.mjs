// The consumer's workspace in a real browser: try an API (refused without a key), open an
// application, see its usage chart, ask for an API that needs approval, create an API key and see
// its secret once, try the API again with that key, promote the application to another
// environment, and the application page on a phone. A screenshot of every page.

import assert from 'node:assert/strict';
import { PHONE, assertAccessible, journey } from './lib.mjs';

const APP = '/environments/master/applications/m-app-acme-mobile';
const PETSTORE = '/environments/master/apis/m-api-petstore';
const path = page => new URL(page.url()).pathname;
const text = async locator => (await locator.textContent()).replace(/\s+/g, ' ').trim();

/** Sends the try-it form of the API page as it is filled; the status and body answered. */
async function tryIt(page, key) {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForLoadState();
  await page.locator('#try-answer').waitFor();
  return { status: await text(page.locator('#try-status')), body: await text(page.locator('#try-body-answer')) };
}

let keyId = '';

await journey(async ({ page, url, step, shot, newPage }) => {
  await step('an API is tried without a key', async () => {
    await page.goto(url('/'));
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(u => new URL(u).pathname.endsWith('/apis'));
    await page.goto(url(PETSTORE));
    const operation = await page.getByLabel('Operation').inputValue();
    const answer = await tryIt(page, '');
    await shot(page, 'try it without a key');
    return { operation, ...answer, violations: await assertAccessible(page) };
  });

  await step('an application opens from the list', async () => {
    await page.goto(url('/environments/master/applications'));
    await page.getByRole('link', { name: 'Acme Mobile' }).click();
    await page.waitForURL(u => new URL(u).pathname === APP);
    const chart = page.getByRole('img', { name: 'Calls per hour over the last day' });
    const summary = await text(page.locator('figure.usage figcaption'));
    const bars = await page.locator('svg.chart rect.bar').count();
    await shot(page, 'application');
    return { title: await text(page.locator('h1')), chart: await chart.count(), bars, summary, violations: await assertAccessible(page) };
  });

  await step('asking for an API that needs approval', async () => {
    await page.getByLabel('Ask for access to').selectOption({ label: 'Payments' });
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.waitForURL(u => new URL(u).pathname === APP);
    const notice = await text(page.locator('.notice.flash'));
    await shot(page, 'access requested');
    return { notice };
  });

  await step('a new key shows its secret once', async () => {
    await page.getByRole('button', { name: 'Create an API key' }).click();
    await page.waitForLoadState();
    const secret = await text(page.locator('#new-secret'));
    keyId = await text(page.locator('dl.secret dd code').first());
    await shot(page, 'new key');
    await page.goto(url(APP));
    const again = await page.content();
    return { secretLength: secret.length, shownAgain: again.includes(secret), hinted: again.includes(`…${secret.slice(-4)}`) };
  });

  await step('the API answers to the new key', async () => {
    await page.goto(url(PETSTORE));
    const answer = await tryIt(page, keyId);
    await shot(page, 'try it with a key');
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    await phone.goto(url(PETSTORE));
    const wide = await phone.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    await shot(phone, 'phone api');
    await page.goto(url(APP));
    return { ...answer, wide };
  });

  await step('promoting to another environment', async () => {
    await page.getByLabel('Create it, with access to the same APIs, on').selectOption({ label: 'Production EU' });
    await page.getByRole('button', { name: 'Promote' }).click();
    await page.waitForLoadState();
    const heading = await text(page.locator('h1'));
    const rows = await page.locator('tbody tr').evaluateAll(trs => trs.map(tr => tr.textContent.replace(/\s+/g, ' ').trim()));
    await shot(page, 'promoted');
    const violations = await assertAccessible(page);
    await page.getByRole('link', { name: 'Open it on Production EU' }).click();
    await page.waitForLoadState();
    return { heading, rows, opened: path(page).startsWith('/environments/prod-eu/applications/'), violations };
  });

  await step('the application page fits a phone', async () => {
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    await phone.goto(url(APP));
    const wide = await phone.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    await shot(phone, 'phone application');
    return { wide };
  });
});
