// Checks frames of io.atcr.hold.subscribeScanJobs with the AT Protocol's own validator:
//   node validate.cjs LEXICON.json FRAMES.jsonl
// Each line of FRAMES is one frame as sent on the wire. Prints one line per frame,
// "ok" or the validator's error, and exits 1 when any frame is invalid.
const fs = require("fs");
const { Lexicons, jsonToLex } = require("@atproto/lexicon");

const [lexiconPath, framesPath] = process.argv.slice(2);
const lexicons = new Lexicons([JSON.parse(fs.readFileSync(lexiconPath, "utf8"))]);
const nsid = "io.atcr.hold.subscribeScanJobs";
let bad = 0;
for (const line of fs.readFileSync(framesPath, "utf8").split("\n")) {
  if (!line.trim()) continue;
  try {
    lexicons.assertValidXrpcMessage(nsid, jsonToLex(JSON.parse(line)));
    console.log("ok");
  } catch (e) {
    bad += 1;
    console.log(`invalid: ${e.message}: ${line.slice(0, 200)}`);
  }
}
process.exit(bad ? 1 : 0);
