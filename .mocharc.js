'use strict';
// `npm test` builds first; specs run from dist/. The root setup starts the local stack once.
const suites = (process.env.TEST_SUITES || 'unit,nodes,integration,e2e').split(',');
module.exports = {
    spec: suites.map((s) => `dist/test/${s.trim()}/**/*.test.js`),
    require: ['dist/test/setup.js'],
    timeout: 30000,
    exit: true,
    reporter: process.env.MOCHA_REPORTER || 'spec',
};
