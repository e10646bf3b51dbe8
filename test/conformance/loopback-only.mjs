// Preloaded (node --import) into the unmodified reference server, whose launcher listens on every interface:
// a listen on a bare port binds 127.0.0.1 instead, so tests reach nothing beyond loopback.
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const callback = args.find((arg) => typeof arg === 'function')
    return listen.call(this, Number(args[0]), '127.0.0.1', callback)
  }
  return listen.apply(this, args)
}
