// tfjs-core's Node entry does not register the gradients of its own kernels
// (its register_all_gradients module ships only as extensionless ESM, which
// Node cannot load). The @tensorflow/tfjs package's Node bundle registers them
// in tfjs's global gradient registry, so importing it once for that side effect
// makes tf.grad / optimizer.minimize work on every backend.
import "@tensorflow/tfjs";
