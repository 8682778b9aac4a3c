import t from 'tap';
import { answerEnded, classifyMissing, newTally, recordSeq, restartWindow, type Tally } from '../../bench/lib/accounting.mjs';

// The bench's published lost / late / reset / dup figures rest on this accounting.

function feed(tally: Tally, seqs: readonly number[]): number {
  let dups = 0;
  for (const s of seqs) if (!recordSeq(tally, s)) dups++;
  return dups;
}

t.test('a complete in-order stream misses nothing', async (t) => {
  const tally = newTally();
  t.equal(feed(tally, [0, 1, 2, 3, 4]), 0);
  t.same(classifyMissing(tally, 5), { resets: 0, late: 0, lost: 0 });
});

t.test('duplicates and older seqs are not counted twice', async (t) => {
  const tally = newTally();
  t.equal(feed(tally, [0, 1, 1, 2, 0, 3]), 2);
  t.equal(tally.count, 4);
  t.same(classifyMissing(tally, 4), { resets: 0, late: 0, lost: 0 });
});

t.test('a silent gap before a later message is lost', async (t) => {
  const tally = newTally();
  feed(tally, [0, 1, 3, 4]);
  t.same(classifyMissing(tally, 5), { resets: 0, late: 0, lost: 1 });
});

t.test('missing after the last message received is late, not lost', async (t) => {
  const tally = newTally();
  feed(tally, [0, 1, 2]);
  t.same(classifyMissing(tally, 6), { resets: 0, late: 3, lost: 0 });
  feed(tally, [4]);
  t.same(classifyMissing(tally, 6), { resets: 0, late: 1, lost: 1 }, 'seq 3 skipped silently, 5 not there yet');
});

t.test('a poll answer with a reset: its jump is told, not lost', async (t) => {
  const tally = newTally();
  feed(tally, [0, 1]);
  answerEnded(tally, false);
  feed(tally, [5, 6]); // the server skipped 2, 3, 4 and said so in this answer
  answerEnded(tally, true);
  t.same(classifyMissing(tally, 7), { resets: 3, late: 0, lost: 0 });
});

t.test('a reset answer with no message: the next jump is what it skipped', async (t) => {
  const tally = newTally();
  feed(tally, [0]);
  answerEnded(tally, false);
  answerEnded(tally, true); // reset, nothing yet
  t.equal(tally.resetOpen, true);
  feed(tally, [4, 5]);
  answerEnded(tally, false);
  t.same(classifyMissing(tally, 6), { resets: 3, late: 0, lost: 0 });
  feed(tally, [7]);
  t.same(classifyMissing(tally, 8), { resets: 3, late: 0, lost: 1 }, 'a later silent skip is still lost');
});

t.test('an open reset at the end of the window covers everything still missing', async (t) => {
  const tally = newTally();
  feed(tally, [0, 1]);
  answerEnded(tally, false);
  answerEnded(tally, true);
  t.same(classifyMissing(tally, 10), { resets: 8, late: 0, lost: 0 });
});

t.test('a gap inside an answer without a reset stays lost when the answer ends', async (t) => {
  const tally = newTally();
  feed(tally, [0, 2]);
  answerEnded(tally, false);
  answerEnded(tally, true); // a later reset does not reach back into an earlier answer
  feed(tally, [3]);
  t.same(classifyMissing(tally, 4), { resets: 0, late: 0, lost: 1 });
});

t.test('a new window counts from zero and keeps the position', async (t) => {
  const tally = newTally();
  feed(tally, [0, 1, 2]);
  answerEnded(tally, true);
  restartWindow(tally);
  t.same([tally.count, tally.resetMissed, tally.resetOpen, tally.last], [0, 0, false, 2]);
});
