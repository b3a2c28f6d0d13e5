"""Building blocks of the recurrent areas.

* :class:`DaleConv`: the 3x3 connection between two populations, depthwise-separable (depthwise
  3x3, multiplier 1, then pointwise 1x1) or regular, with the sign constraint applied at call time
  to every kernel (Dale's law, paper section 1: ``W = |W~|``, the trainable variable being ``W~``).
* :class:`StepBatchNorm`: BatchNorm with its own gamma, beta and moving statistics for every time
  step (the authors' per-step ``time_step_t`` scopes), indexed by the step carried in the state.
* :class:`SpatialLayerNorm`: layer normalization over height, width and channels.
* :class:`InputNormalization`: per-image standardization (CIFAR10) or channel-mean subtraction
  (ImageNet) inside the model, so a served model takes raw 0-255 pixels.
* :class:`RecurrentArea`: ``keras.layers.RNN`` over a recurrent area's cell, with the spatial
  output shapes a convolutional cell needs, and the input currents computed outside the
  recurrence; :class:`PoolInTime` pools its output at every step.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

PACKAGE = "ei_tf"
SIGN_CONSTRAINTS = {"abs": ops.abs, "relu": ops.relu, "none": lambda weight: weight}


def sign_constrained(weight, constraint: str):
    """The effective kernel: ``|W~|`` (abs, Dale's law), ``relu(W~)``, or ``W~`` (none)."""
    return SIGN_CONSTRAINTS[constraint](weight)


def choice(layer, argument: str, value, allowed):
    """``value`` if it is one of ``allowed``; else a ValueError naming them."""
    if value not in tuple(allowed):
        raise ValueError(f"{type(layer).__name__}: {argument}={value!r} is not one of "
                         f"{', '.join(map(repr, allowed))}")
    return value


def l2(weight_decay: float):
    """Keras L2 regularizer equal to ``weight_decay * 0.5 * sum(w**2)`` (design.md section 3)."""
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None


def slice_axis(x, axis: int, start: int, size: int):
    """``size`` entries of ``x`` from ``start`` along ``axis``, by ``tf.slice``: the values of
    ``x[..., start:start + size]``, and its gradient (a Pad) is ~3x cheaper on CPU than a
    strided slice's StridedSliceGrad (benchmarks/bench_train.py)."""
    rank = len(x.shape)
    axis %= rank
    begin, sizes = [0] * rank, [-1] * rank
    begin[axis], sizes[axis] = start, size
    return tf.slice(x, begin, sizes)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DaleConv(keras.layers.Layer):
    """Stride-1 'same' 3x3 connection from one population to another.

    ``separable=True``: ``depthwise[k, k, C_in, 1]`` then ``pointwise[1, 1, C_in, C_out]``; the sign
    constraint is applied to BOTH kernels at call time. ``use_bias`` adds a bias (never
    constrained). A population with zero channels on either side contributes only the bias.

    ``sign`` is the source population's sign (+1 excitatory, -1 inhibitory; design.md section
    2): the layer computes ``sign * (conv+(x) + b)``, with the sign folded into the pointwise (or
    regular) kernel and the bias, so no pass over the output map multiplies it. Negation is
    exact, so the values are those of multiplying the output.

    Kernels start glorot-uniform (the authors' ``tf.get_variable`` default) times
    ``init_gain``.
    """

    def __init__(self, filters, kernel_size=3, separable=True, sign_constraint="abs",
                 use_bias=True, bias_init=0.0, weight_decay=0.0, sign=1.0, init_gain=1.0,
                 **kwargs):
        super().__init__(**kwargs)
        if init_gain <= 0:
            raise ValueError(f"DaleConv init_gain must be positive, got {init_gain}")
        self.init_gain, self.sign, self.bias_init = float(init_gain), float(sign), float(bias_init)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.separable, self.use_bias = bool(separable), bool(use_bias)
        self.sign_constraint = choice(self, "sign_constraint", sign_constraint, SIGN_CONSTRAINTS)
        self.weight_decay = float(weight_decay)

    def build(self, input_shape):
        self.in_channels = int(input_shape[-1])
        k, cin, cout = self.kernel_size, self.in_channels, self.filters
        reg = l2(self.weight_decay)
        # Glorot uniform scaled by init_gain (a value gain g is a variance scale g**2).
        glorot = keras.initializers.VarianceScaling(self.init_gain ** 2, "fan_avg", "uniform")
        if self.separable:
            self.depthwise = self.add_weight(shape=(k, k, cin, 1), initializer=glorot,
                                             regularizer=reg, name="depthwise")
            self.pointwise = self.add_weight(shape=(1, 1, cin, cout), initializer=glorot,
                                             regularizer=reg, name="pointwise")
        else:
            self.kernel = self.add_weight(shape=(k, k, cin, cout), initializer=glorot,
                                          regularizer=reg, name="kernel")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(cout,), regularizer=reg, name="bias",
                                        initializer=keras.initializers.Constant(self.bias_init))

    def effective_kernel(self):
        """The 4-D kernel ``[k, k, C_in, C_out]`` this connection applies (after the constraint).

        For a separable connection, ``depthwise[:, :, c, 0] * pointwise[0, 0, c, :]`` (paper
        Appendix A: "the 4-d convolution matrix ... is recovered from the spatial and point-wise
        convolution kernels").
        """
        if self.separable:
            d = sign_constrained(self.depthwise, self.sign_constraint)
            p = sign_constrained(self.pointwise, self.sign_constraint)
            return d * p[0, 0][None, None, :, :]
        return sign_constrained(self.kernel, self.sign_constraint)

    def call(self, inputs, training=False):
        """``sign * (conv+(inputs) + bias)``; the bias as a BiasAdd, which Grappler fuses into
        the convolution together with a following Add or ReLU.

        In training the pointwise step is a MatMul over the pixels (the same sums): its kernel
        gradient is then one GEMM, faster on CPU than a 1x1 convolution's backward pass (the
        Standard network's training step: 1.08x on 2 cores), and the bias is added to the
        MatMul's own output, where Grappler fuses the two (a further 1.01-1.02x); in inference
        it stays a convolution, which fuses with what follows (there a MatMul was 0.93x).

        Each connection keeps its own GEMM. Summing the connections into one target in one GEMM
        (sources concatenated, kernels stacked, K = the sum of their channels) measured 0.94x
        for the StandardEI training step (0.77-0.99x for one area's E and I currents), and one
        block-diagonal GEMM per source 0.53-0.69x (2-core Xeon): the concatenation and its
        gradient's slices cost what the larger GEMM saves.
        """
        if self.in_channels == 0 or self.filters == 0:
            shape = ops.shape(inputs)
            out = ops.zeros((shape[0], shape[1], shape[2], self.filters), dtype=inputs.dtype)
        elif self.separable:
            depthwise = sign_constrained(self.depthwise, self.sign_constraint)
            pointwise = self.sign * sign_constrained(self.pointwise, self.sign_constraint)
            if training:
                spatial = ops.depthwise_conv(inputs, depthwise, padding="same")
                pixels = ops.reshape(spatial, (-1, self.in_channels))
                out = self._plus_bias(ops.matmul(pixels, pointwise[0, 0]))
                return ops.reshape(out, (-1, *spatial.shape[1:-1], self.filters))
            out = ops.separable_conv(inputs, depthwise, pointwise, padding="same")
        else:
            out = ops.conv(inputs, self.sign * sign_constrained(self.kernel, self.sign_constraint),
                           padding="same")
        return self._plus_bias(out)

    def _plus_bias(self, out):
        """``out + sign * b`` (channels last), or ``out`` without a bias."""
        return out if self.bias is None else tf.nn.bias_add(out, self.zero_input_response())

    def zero_input_response(self):
        """What :meth:`call` gives for an all-zero input, broadcastable to its output: the
        signed bias ``sign * b`` (``[C_out]``), or 0 without a bias."""
        if self.bias is None:
            return 0.0
        return self.sign * ops.cast(self.bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "separable": self.separable,
                "sign_constraint": self.sign_constraint, "use_bias": self.use_bias,
                "bias_init": self.bias_init, "weight_decay": self.weight_decay, "sign": self.sign,
                "init_gain": self.init_gain}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StepBatchNorm(keras.layers.Layer):
    """BatchNorm whose parameters and moving statistics are ``[T, C]``: one row per time step.

    ``call(x, step, training)`` normalizes a map ``[B, H, W, C]`` with the batch moments over
    (batch, height, width) when training and updates row ``step`` of the moving statistics with
    ``momentum``; at inference it uses row ``step``. Matches TF's
    ``batch_normalization(momentum=0.997, epsilon=1e-5)`` applied in a separate scope per time
    step (design.md section 2).
    """

    def __init__(self, steps, momentum=0.997, epsilon=1e-5, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.steps, self.momentum, self.epsilon = int(steps), float(momentum), float(epsilon)
        self.weight_decay = float(weight_decay)

    def build(self, input_shape):
        shape = (self.steps, int(input_shape[-1]))
        reg = l2(self.weight_decay)
        # float32 under every dtype policy, as Keras' BatchNormalization.
        self.gamma = self.add_weight(shape=shape, initializer="ones", regularizer=reg,
                                     name="gamma", autocast=False)
        self.beta = self.add_weight(shape=shape, initializer="zeros", regularizer=reg,
                                    name="beta", autocast=False)
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False,
                                           name="moving_mean", autocast=False)
        self.moving_variance = self.add_weight(shape=shape, initializer="ones",
                                               trainable=False, name="moving_variance",
                                               autocast=False)

    def call(self, inputs, step, training=False):
        """``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` in float32 (mixed precision
        would overflow the moments), returned in the input's dtype.

        In training, one fused op computes the batch moments and the normalization, and one
        fused op its gradient (the Standard training step 1.01x, StandardEI 1.06x on 2 CPU
        cores; in inference the fused op was 0.94x for StandardEI, so inference keeps the
        multiply-add). The moving variance is updated with the batch's own variance, as Keras'
        BatchNormalization does: the fused op reports it with Bessel's correction,
        ``n / (n - 1)``, which is removed.
        """
        dtype = inputs.dtype
        inputs = ops.cast(inputs, "float32")
        gamma = ops.take(self.gamma, step, axis=0)
        beta = ops.take(self.beta, step, axis=0)
        if training:
            out, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, is_training=True)
            count = ops.cast(ops.size(inputs) // ops.shape(inputs)[-1], "float32")
            variance = variance * (count - 1.0) / count
            row = ops.expand_dims(ops.one_hot(step, self.steps, dtype="float32"), -1)
            rate = (1.0 - self.momentum) * row
            self.moving_mean.assign(self.moving_mean - rate * (self.moving_mean - mean))
            self.moving_variance.assign(
                self.moving_variance - rate * (self.moving_variance - variance))
            return ops.cast(out, dtype)
        mean = ops.take(self.moving_mean, step, axis=0)
        variance = ops.take(self.moving_variance, step, axis=0)
        return ops.cast(ops.batch_normalization(inputs, mean, variance, axis=-1, offset=beta,
                                                scale=gamma, epsilon=self.epsilon), dtype)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "momentum": self.momentum,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpatialLayerNorm(keras.layers.Layer):
    """Layer normalization over (height, width, channels) with per-channel gain and shift."""

    def __init__(self, epsilon=1e-12, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.weight_decay = float(epsilon), float(weight_decay)

    def build(self, input_shape):
        reg = l2(self.weight_decay)
        channels = (int(input_shape[-1]),)
        self.gamma = self.add_weight(shape=channels, initializer="ones", regularizer=reg,
                                     name="gamma", autocast=False)
        self.beta = self.add_weight(shape=channels, initializer="zeros", regularizer=reg,
                                    name="beta", autocast=False)

    def call(self, inputs):
        """In float32 under every dtype policy (as :class:`StepBatchNorm`)."""
        dtype = inputs.dtype
        inputs = ops.cast(inputs, "float32")
        mean, variance = ops.moments(inputs, axes=[1, 2, 3], keepdims=True)
        return ops.cast(
            (inputs - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta, dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "weight_decay": self.weight_decay}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CellDropout(keras.layers.Dropout):
    """Dropout of the PNCellDrpt and AddOGDrpt variants (Appendix D.3), on in training only
    unless ``at_inference``.

    Keras' Dropout drops units in training only, ei-tf's default. The authors' cells call
    ``tf.nn.dropout`` without a training flag, so their networks also drop units when they are
    evaluated and in their exported models; ``at_inference=True`` does the same.
    """

    def __init__(self, rate, at_inference=False, **kwargs):
        super().__init__(rate, **kwargs)
        self.at_inference = bool(at_inference)

    def call(self, inputs, training=False):
        return super().call(inputs, training=True if self.at_inference else training)

    def get_config(self):
        return {**super().get_config(), "at_inference": self.at_inference}


@keras.saving.register_keras_serializable(package=PACKAGE)
class InputNormalization(keras.layers.Layer):
    """Raw 0-255 RGB in; ``tf.image.per_image_standardization`` or channel-mean subtraction out."""

    def __init__(self, mode="per_image_standardization", channel_mean=(0.0, 0.0, 0.0),
                 **kwargs):
        super().__init__(**kwargs)
        self.mode = choice(self, "mode", mode, ("per_image_standardization", "channel_mean"))
        self.channel_mean = [float(v) for v in channel_mean]

    def call(self, images):
        images = ops.cast(images, "float32")
        if self.mode == "per_image_standardization":
            return tf.image.per_image_standardization(images)
        return images - ops.convert_to_tensor(self.channel_mean, dtype=images.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "channel_mean": self.channel_mean}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PoolInTime(keras.layers.Layer):
    """Max-pool 3x3 'same' of every time step of ``[B, T, H, W, C]``: one pooling of the T steps
    folded into the batch (the values of ``TimeDistributed(MaxPooling2D)``, without its per-step
    slices, whose gradients cost more on CPU than the pooling itself)."""

    def __init__(self, strides, **kwargs):
        super().__init__(**kwargs)
        self.strides = int(strides)
        self.pool = keras.layers.MaxPooling2D(3, self.strides, padding="same",
                                              dtype=self.dtype_policy)

    def call(self, sequence):
        steps, *spatial = sequence.shape[1:]
        pooled = self.pool(ops.reshape(sequence, [-1, *spatial]))
        return ops.reshape(pooled, [-1, steps, *pooled.shape[1:]])

    def compute_output_shape(self, input_shape):
        step = self.pool.compute_output_shape((input_shape[0], *input_shape[2:]))
        return (input_shape[0], input_shape[1], *step[1:])

    def get_config(self):
        return {**super().get_config(), "strides": self.strides}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RecurrentArea(keras.layers.RNN):
    """``keras.layers.RNN`` over a convolutional area cell, returning every time step.

    Input: a sequence ``[B, T, H, W, C_in]`` (one input per step: area k+1 is driven by area k's
    step t), or, with ``steps=T``, one map ``[B, H, W, C_in]`` that is the input at every one of
    the T steps (the first recurrent area, design.md section 2). Output: one ``[B, T, H, W,
    C_pop]`` sequence per population, in the order of ``cell.populations`` (names and sizes;
    the principal population first). Zero initial state (section 1).

    The currents from the input (``cell.input_currents``) do not depend on the cell's state, so
    they are computed before the recurrence, for all steps in one batch, and only once when the
    input is the same at every step; the cell's step then computes the recurrent currents.
    """

    def __init__(self, cell, steps=None, **kwargs):
        kwargs.setdefault("return_sequences", True)
        super().__init__(cell, **kwargs)
        self.steps = None if steps is None else int(steps)

    def _step_shape(self, input_shape):
        if self.steps is None:
            return (input_shape[0],) + tuple(input_shape[2:])
        return tuple(input_shape)

    def build(self, input_shape):
        if not self.cell.built:
            self.cell.build(self._step_shape(input_shape))
            self.cell.built = True

    def compute_output_shape(self, input_shape):
        steps = input_shape[1] if self.steps is None else self.steps
        batch, *spatial, _ = self._step_shape(input_shape)
        return [(batch, steps, *spatial, channels) for _, channels in self.cell.populations]

    def call(self, inputs, training=False):
        states = self.get_initial_state(ops.shape(inputs)[0])
        if self.steps is None:
            # Time-major, so each step's currents are a slice of the outer axis (no copy).
            steps = inputs.shape[1]
            time_major = ops.transpose(inputs, [1, 0, 2, 3, 4])
            folded = ops.reshape(time_major, (-1, *time_major.shape[2:]))
            currents = {name: ops.reshape(v, (steps, -1, *v.shape[1:]))
                        for name, v in self.cell.input_currents(folded).items()}
        else:
            steps, currents = self.steps, self.cell.input_currents(inputs)
        outputs = self._recurrence(currents, steps, states, training)
        return [ops.cast(seq, self.compute_dtype) for seq in outputs]

    def _recurrence(self, currents, steps, states, training):
        """The T steps, one cell call each: a Python loop (``unroll``) or a ``tf.while_loop``;
        each population's outputs stacked on axis 1. The cell is told which step is the first
        (its states are then the zero initial state).

        ``currents`` holds each step's input currents on its outer axis, or, for an input that
        is the same at every step, the currents themselves. (Keras' own while loop calls the
        cell once more, outside the loop, to learn its output shape; in training that extra call
        would update step 0's BatchNorm moving statistics a second time.)
        """
        per_step = self.steps is None
        if self.unroll:
            if per_step:
                unstacked = {name: tf.unstack(v) for name, v in currents.items()}
                step_inputs = [{name: v[t] for name, v in unstacked.items()}
                               for t in range(steps)]
            else:
                step_inputs = [currents] * steps
            outputs = []
            for t, step_currents in enumerate(step_inputs):
                output, states = self.cell(step_currents, states, training=training,
                                           initial_step=t == 0)
                outputs.append(output)
            return [tf.stack(seq, axis=1) for seq in zip(*outputs)]
        spatial = tuple(next(iter(currents.values())).shape[-3:-1])
        outputs = [tf.TensorArray(self.compute_dtype, size=steps,
                                  element_shape=(None, *spatial, channels))
                   for _, channels in self.cell.populations]
        if per_step:
            currents = {name: tf.TensorArray(v.dtype, size=steps).unstack(v)
                        for name, v in currents.items()}

        def step(t, outputs, *states, initial_step=False):
            step_currents = {name: v.read(t) for name, v in currents.items()} if (
                per_step) else currents
            output, states = self.cell(step_currents, list(states), training=training,
                                       initial_step=initial_step)
            return (t + 1, [seq.write(t, v) for seq, v in zip(outputs, output)], *states)

        # The first step (from the zero initial state) before the loop, the others in it.
        first = step(tf.constant(0), outputs, *states, initial_step=True)
        _, outputs, *_ = tf.while_loop(lambda t, *_: t < steps, step, first,
                                       maximum_iterations=steps - 1)
        return [tf.transpose(seq.stack(), [1, 0, 2, 3, 4]) for seq in outputs]

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}
