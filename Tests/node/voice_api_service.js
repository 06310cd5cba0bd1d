// A service built for the Voice API with Node.js `ws` (Debian's node-ws): the server side of the Voice
// API's websocket protocol, echoing every binary message back. The tests read what it saw from stdout,
// one JSON object per line, the first being {"ev": "listening", "port": N}. Exits after --lifetime s.
const { WebSocketServer } = require('ws');

const flag = process.argv.indexOf('--lifetime');
const lifetime = flag > 0 ? Number(process.argv[flag + 1]) : 60;
const report = (fields) => process.stdout.write(JSON.stringify(fields) + '\n');

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 8 << 20 });
let connections = 0;
server.on('listening', () => report({ ev: 'listening', port: server.address().port, ws: require('ws/package.json').version }));
server.on('connection', (ws, request) => {
  const n = ++connections;
  let audioMessages = 0;
  const sizes = [];
  report({ ev: 'open', n, path: request.url, authorization: request.headers['authorization'] || null,
           content_length: request.headers['content-length'] || null });
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      audioMessages += 1;
      if (sizes.length < 5) sizes.push(data.length);
      ws.send(data, { binary: true });
    } else {
      report({ ev: 'text', n, msg: JSON.parse(data.toString()) });
    }
  });
  ws.on('close', (code) => report({ ev: 'close', n, code, audio_messages: audioMessages, first_sizes: sizes }));
});
setTimeout(() => process.exit(0), lifetime * 1000);
