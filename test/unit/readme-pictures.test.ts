/**
 * The README's pictures (made by the browser tests, committed under docs/) are linked by absolute raw
 * URLs of the repository in package.json: npm's package page and the Node-RED flow library render the
 * README outside the repository, where relative links would not resolve.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');

describe('README pictures', function () {
    it('every picture is a raw URL of package.json\'s repository and its file is under docs/', function () {
        const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { repository: { url: string } };
        const repo = /github\.com\/([^/]+\/[^/.]+)/.exec(pkg.repository.url)?.[1];
        assert.ok(repo, 'a GitHub repository in package.json');
        const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
        const pictures = [...readme.matchAll(/!\[([^\]]*)\]\(([^)\s]+)\)/g)].map((m) => ({ alt: m[1], url: m[2] }));
        assert.ok(pictures.length >= 3, 'the uplink flow, the converter Test, Test connection');
        const base = `https://raw.githubusercontent.com/${repo}/HEAD/`;
        for (const { alt, url } of pictures) {
            assert.ok(url.startsWith(base), `${url} starts with ${base}`);
            assert.ok(alt.length > 10, `${url}: an alt text that says what it shows`);
            const file = path.join(root, url.slice(base.length));
            assert.ok(/^docs\/[\w.-]+\.png$/.test(url.slice(base.length)) && fs.existsSync(file), `${url}: ${file} is committed`);
        }
    });
});
