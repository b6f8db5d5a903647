// The statistics the product's figures and the benchmarks share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mean, median, percentile } from '../../../src/core/statistics.js';

test('median, nearest-rank percentile and mean, leaving their input as it was', () => {
  const values = [9, 1, 5, 3];
  assert.equal(median(values), 4);
  assert.equal(median([7, 1, 3]), 3);
  assert.deepEqual(values, [9, 1, 5, 3]);
  assert.equal(percentile(values, 0.5), 3);
  assert.equal(percentile(values, 0.95), 9);
  assert.equal(percentile(values, 0), 1);
  assert.equal(mean(values), 4.5);
  for (const empty of [median([]), percentile([], 0.5), mean([])]) assert.ok(Number.isNaN(empty));
});
