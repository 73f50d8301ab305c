"""The pointwise cell equations of docs/math.md, written once.

These are plain Python functions on scalars. They are not called from here:
``kernels/cpu/cell.py`` compiles them for the CPU and ``kernels/cuda/cell.py``
for the GPU, both through :func:`compile_cell_math`, each binding the two
target primitives this module leaves open:

``exp_(a)``
    the exponential; on the CPU a branch-free, vectorisable one that clamps
    its argument, so the logistic below never overflows.
``typed(like, v)``
    the constant ``v`` in the floating type of ``like``: a bare ``1.0``
    would promote float32 arithmetic to float64.

Derivatives are written in terms of the activations the forward pass keeps
(``σ' = s(1 - s)``, ``tanh' = 1 - t²``), so the backward pass never
re-evaluates an exponential.

Activation codes for the Elman RNN: 0 tanh, 1 relu, 2 sigmoid.
"""
import math
import types as pytypes

TANH, RELU, SIGMOID = 0, 1, 2


def exp_(a):  # pragma: no cover - replaced by each target
    return math.exp(min(max(a, -708.0), 709.0))


def typed(like, v):  # pragma: no cover - replaced by each target
    return type(like)(v)


def sigmoid(a):
    one = typed(a, 1.0)
    return one / (one + exp_(-a))


def tanh(a):
    # 2σ(2a) − 1 = (1 − e^{−2a}) / (1 + e^{−2a}); inherits the clamped exp.
    one = typed(a, 1.0)
    two = typed(a, 2.0)
    return two / (one + exp_(-two * a)) - one


def relu(a):
    # max rather than a conditional: the CPU also runs this on SIMD vectors
    return max(a, typed(a, 0.0))


def activation(a, kind):
    if kind == TANH:
        return tanh(a)
    if kind == RELU:
        return relu(a)
    return sigmoid(a)


def positive(y):
    """1 where y > 0, else 0 (the CPU binds a version that also takes vectors)."""
    return typed(y, 1.0) if y > typed(y, 0.0) else typed(y, 0.0)


def activation_grad(y, kind):
    """dφ/da expressed through y = φ(a)."""
    one = typed(y, 1.0)
    if kind == TANH:
        return one - y * y
    if kind == RELU:
        return positive(y)
    return y * (one - y)


def lstm_cell(ai, af, ag, ao, c_prev):
    """Gate activations, new cell and hidden state from pre-activations."""
    i = sigmoid(ai)
    f = sigmoid(af)
    g = tanh(ag)
    o = sigmoid(ao)
    c = f * c_prev + i * g
    h = o * tanh(c)
    return i, f, g, o, c, h


def lstm_cell_backward(i, f, g, o, c, c_prev, dh, dc):
    """Pre-activation gradients and dc_{t-1} from dh_t and the carried dc_t."""
    one = typed(c, 1.0)
    tc = tanh(c)
    dc = dc + dh * o * (one - tc * tc)
    dai = dc * g * i * (one - i)
    daf = dc * c_prev * f * (one - f)
    dag = dc * i * (one - g * g)
    dao = dh * tc * o * (one - o)
    return dai, daf, dag, dao, dc * f


def gru_update(z, n, h_prev):
    """h_t = (1 − z) h_{t−1} + z n (numbarnn's z is PyTorch's 1 − z)."""
    return h_prev + z * (n - h_prev)


def gru_update_backward(z, n, h_prev, dh):
    """Gradients of the update w.r.t. the n and z pre-activations, and h_{t−1}."""
    one = typed(z, 1.0)
    dan = dh * z * (one - n * n)
    daz = dh * (n - h_prev) * z * (one - z)
    return dan, daz, dh * (one - z)


def sigmoid_grad(s):
    return s * (typed(s, 1.0) - s)


def compile_cell_math(jit, primitives):
    """Compile every function of this module with ``jit`` over ``primitives``.

    Returns a dict of the compiled functions; calls between them resolve
    inside one namespace, never to the uncompiled originals.
    """
    namespace = dict(globals())
    namespace.update(primitives)
    compiled = {}
    for name, obj in list(globals().items()):
        if (isinstance(obj, pytypes.FunctionType) and obj.__module__ == __name__
                and name not in primitives and obj is not compile_cell_math):
            fn = pytypes.FunctionType(obj.__code__, namespace, name, obj.__defaults__)
            fn.__qualname__ = obj.__qualname__
            compiled[name] = jit(fn)
    namespace.update(compiled)
    return compiled
