'use strict';
// `npm test` builds first; specs run from dist/. The root setup starts the local stack once.
// `npx mocha --spec dist/test/x.test.js` (or a file argument) runs only that file.
const suites = (process.env.TEST_SUITES || 'unit,nodes,integration,e2e').split(',');
const cliSpec = process.argv.slice(2).some((a) => a === '--spec' || a.startsWith('--spec=') || /\.test\.js$/.test(a));
module.exports = {
    ...(cliSpec ? {} : { spec: suites.map((s) => `dist/test/${s.trim()}/**/*.test.js`) }),
    require: ['dist/test/setup.js'],
    timeout: 30000,
    exit: true,
    reporter: process.env.MOCHA_REPORTER || 'spec',
};
