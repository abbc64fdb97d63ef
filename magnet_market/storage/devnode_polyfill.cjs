// Loaded by devnode.py through NODE_OPTIONS=--require: js-ipfs 0.66.1 pulls in newer
// dependencies (mortice, abort-error) that call Promise.withResolvers, which Node ships only
// from version 22; Node 20 needs this stand-in.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve
    let reject
    const promise = new this((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}
