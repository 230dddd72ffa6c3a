// Checks frames of io.atcr.hold.subscribeScanJobs with the AT Protocol's own code:
//   node validate.cjs LEXICON.json FRAMES.jsonl
// Each line of FRAMES is one frame as sent on the wire. Messages (jobs, results) are
// checked against the lexicon by @atproto/lexicon; error frames (`op: -1`, the JSON form
// of an event-stream error frame: header and body in one object) by @atproto/xrpc-server's
// own frame header and error body schemas, and must not pass as a message of the union.
// Prints one line per frame, "ok" or the validator's error, and exits 1 when any frame is
// invalid.
const fs = require("fs");
const { Lexicons, jsonToLex } = require("@atproto/lexicon");
const { frameHeader, errorFrameBody, ErrorFrame, Frame } = require("@atproto/xrpc-server");

const [lexiconPath, framesPath] = process.argv.slice(2);
const lexicons = new Lexicons([JSON.parse(fs.readFileSync(lexiconPath, "utf8"))]);
const nsid = "io.atcr.hold.subscribeScanJobs";

function checkError(frame) {
  const { op, ...body } = frame;
  if (op !== -1) throw new Error(`op ${op}: error frames have op -1`);
  const header = frameHeader.safeParse({ op });
  if (!header.success) throw new Error(`error frame header: ${header.reason.message}`);
  const parsed = errorFrameBody.safeParse(body);
  if (!parsed.success) throw new Error(`error frame body: ${parsed.reason.message}`);
  // As the binary event stream would carry it, read back by the library's frame parser.
  const read = Frame.fromBytes(new ErrorFrame(parsed.value).toBytes());
  if (!(read instanceof ErrorFrame) || read.code !== body.error) {
    throw new Error("error frame does not read back as one");
  }
  let taken = false;
  try {
    lexicons.assertValidXrpcMessage(nsid, jsonToLex(frame));
    taken = true;
  } catch (_) {}
  if (taken) throw new Error("an error frame passes as a message of the union");
}

let bad = 0;
for (const line of fs.readFileSync(framesPath, "utf8").split("\n")) {
  if (!line.trim()) continue;
  try {
    const frame = JSON.parse(line);
    if ("op" in frame) {
      checkError(frame);
    } else {
      lexicons.assertValidXrpcMessage(nsid, jsonToLex(frame));
    }
    console.log("ok");
  } catch (e) {
    bad += 1;
    console.log(`invalid: ${e.message}: ${line.slice(0, 200)}`);
  }
}
process.exit(bad ? 1 : 0);
