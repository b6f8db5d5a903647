// Printed text and the agent: no logging command survives, whatever an input hid in it; summary cells stay cells.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { logLine, markdownTable, withoutLoggingCommands } from '../../../src/core/log-text.js';

describe('log text', () => {
  it('breaks up every ##vso the agent would find, also with ignorable characters in it, and nothing else', () => {
    assert.equal(withoutLoggingCommands('a ##vso[task.complete]b'), 'a **vso[task.complete]b');
    assert.equal(withoutLoggingCommands('###VSO[x'), '#**VSO[x');
    assert.equal(withoutLoggingCommands('#\u00AD#v\u200Bs\u0000o['), '*\u00AD*v\u200Bs\u0000o[');
    assert.equal(withoutLoggingCommands('issue #42, ## heading, vso'), 'issue #42, ## heading, vso');
  });

  it('keeps a plain line one line', () => {
    assert.equal(logLine('path /tmp/a\r\n##vso[x]b'), 'path /tmp/a\\r\\n**vso[x]b');
  });

  it('escapes table cells so a value cannot add a column, a row or HTML', () => {
    assert.equal(markdownTable(['', ''], [['pool', 'a|b\n<img src=x>']]), '| | |\n|---|---|\n| pool | a\\|b &lt;img src=x> |');
  });
});
