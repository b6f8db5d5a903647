#!/usr/bin/env node
// The commit-msg hook (.githooks/commit-msg; `npm ci` points git at it): a commit's subject says what changed in at
// most 72 characters, so that `git log --oneline` and every review tool show it whole.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const maxSubject = 72;

/** Subjects git writes itself, from a subject that was checked when it was written: fixups, reverts, merges. */
const gitMade = /^(fixup!|squash!|amend!|Revert "|Merge )/;

/** Why the message is refused, or undefined. Comment lines (git's template) and a leading blank are not the subject. */
export function subjectProblem(message) {
  const subject = message.split('\n').find((line) => line.trim() !== '' && !line.startsWith('#'));
  if (subject === undefined || gitMade.test(subject)) return undefined; // An empty message: git itself refuses it.
  const length = [...subject].length;
  return length > maxSubject ? `the commit subject has ${length} characters; at most ${maxSubject}:\n  ${subject}` : undefined;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problem = subjectProblem(readFileSync(process.argv[2], 'utf8'));
  if (problem) {
    console.error(`commit-msg: ${problem}\n(the message is kept in .git/COMMIT_EDITMSG: git commit -e -F .git/COMMIT_EDITMSG)`);
    process.exit(1);
  }
}
