"""Convolution, pooling and weight standardisation: against jax.lax and explicit numpy loops."""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import layers

_RNG = np.random.default_rng(42)


def w0(shape):
    """N(0, 1/fan_in) from numpy (no JAX random program to compile per shape)."""
    return (_RNG.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)


def _np_conv(x, w, stride, pads, dilation=(1, 1), groups=1):
    """Direct loop: NHWC x, HWIO w, explicit ((top, bottom), (left, right)) zero padding."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, hp, wp, c = xp.shape
    kh, kw, cg, o = w.shape
    ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    ho, wo = (hp - ekh) // stride[0] + 1, (wp - ekw) // stride[1] + 1
    og = o // groups
    y = np.zeros((n, ho, wo, o), np.float64)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for oc in range(o):
                    g = oc // og
                    for a in range(kh):
                        for bb in range(kw):
                            pix = xp[b, i * stride[0] + a * dilation[0], j * stride[1] + bb * dilation[1],
                                     g * cg:(g + 1) * cg]
                            y[b, i, j, oc] += pix @ w[a, bb, :, oc]
    return y


CASES = {
    "k3_same": dict(kernel_size=3, padding="SAME"),
    "k3_valid_stride2": dict(kernel_size=3, padding="VALID", stride=2),
    "k2x3_pad1_stride(2,1)": dict(kernel_size=(2, 3), padding=1, stride=(2, 1)),
    "k3_asym_pad_dilated": dict(kernel_size=3, padding=((2, 0), (1, 2)), dilation=2),
    "groups2": dict(kernel_size=3, padding=1, groups=2),
}


@pytest.mark.parametrize("case", CASES)
def test_conv2d_equals_lax_and_a_numpy_loop(case):
    kw = CASES[case]
    rng = np.random.default_rng(0)
    cin, cout = 4, 6
    conv = layers.Conv2d(cin, cout, weight=w0, **kw)
    w = np.asarray(conv.weight.value)
    x = rng.normal(size=(2, 9, 8, cin)).astype(np.float32)
    y = np.asarray(conv(x))
    ref = jax.lax.conv_general_dilated(
        x, w, conv.stride, conv.padding, rhs_dilation=conv.dilation,
        feature_group_count=conv.groups, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    pads = conv.padding
    if pads == "SAME":   # stride 1, odd kernel: k // 2 on every side
        pads = tuple((k // 2, k // 2) for k in conv.kernel_size)
    elif pads == "VALID":
        pads = ((0, 0), (0, 0))
    loop = _np_conv(x.astype(np.float64), w.astype(np.float64), conv.stride, pads, conv.dilation, conv.groups)
    np.testing.assert_allclose(y, loop, rtol=1e-4, atol=1e-4)


def test_conv2d_leading_axes_bias_and_grad():
    rng = np.random.default_rng(1)
    conv = layers.Conv2d(3, 2, kernel_size=3, bias=True, weight=w0)
    conv.bias.value = jnp.array([0.5, -1.0])
    x = rng.normal(size=(4, 2, 6, 6, 3)).astype(np.float32)          # (T, B, H, W, C)
    y = conv(x)
    assert y.shape == (4, 2, 6, 6, 2)
    flat = np.asarray(conv(x.reshape(8, 6, 6, 3))).reshape(y.shape)
    np.testing.assert_allclose(y, flat, rtol=1e-6)
    np.testing.assert_allclose(conv(x[0, 0]), y[0, 0], rtol=1e-5, atol=1e-6)   # unbatched (H, W, C)
    # weight gradient through brainsim.grad against jax.grad of the lax convolution
    target = rng.normal(size=y.shape).astype(np.float32)
    g = brainsim.jit(brainsim.grad(lambda: jnp.mean((conv(x) - target) ** 2), conv.states(brainsim.ParamState)))()
    ref = jax.grad(lambda w, b: jnp.mean((jax.lax.conv_general_dilated(
        x.reshape(8, 6, 6, 3), w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    ).reshape(y.shape) + b - target) ** 2), argnums=(0, 1))(conv.weight.value, conv.bias.value)
    np.testing.assert_allclose(g["weight"], ref[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g["bias"], ref[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", ["Conv2d", "WSConv2d"])
@pytest.mark.parametrize("form", ["array", "quantity", "callable"])
def test_conv_layers_take_weight_in_the_same_forms_as_the_others(cls, form):
    shape = (3, 3, 2, 4)
    w = np.linspace(-1.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    given = {"array": w, "quantity": w * u.nS, "callable": lambda s: jnp.asarray(w).reshape(s)}[form]
    conv = getattr(layers, cls)(2, 4, kernel_size=3, weight=given)
    np.testing.assert_array_equal(u.get_mantissa(conv.weight.value), w)
    x = np.random.default_rng(2).random((1, 5, 5, 2)).astype(np.float32)
    out = conv(x)
    if form == "quantity":
        assert out.unit == u.nS
    kernel = w if cls == "Conv2d" else np.asarray(layers.standardize_weight(jnp.asarray(w), 1e-4))
    ref = _np_conv(x.astype(np.float64), kernel.astype(np.float64), (1, 1), ((1, 1), (1, 1)))
    np.testing.assert_allclose(u.get_mantissa(out), ref, rtol=1e-4, atol=1e-5)


def test_conv2d_bad_arguments_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"Conv2d: weight has shape \(3, 3, 2\), expected \(3, 3, 2, 4\).*HWIO"):
        layers.Conv2d(2, 4, 3, weight=np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(=3\) must be divisible by groups \(=2\)"):
        layers.Conv2d(3, 4, 3, groups=2, weight=w0)
    with pytest.raises(ValueError, match=r"Conv2d: out_channels must be a positive integer, got 2.5"):
        layers.Conv2d(2, 2.5, 3)
    with pytest.raises(ValueError, match=r"WSConv2d: in_channels must be a positive integer, got \(2, 2\)"):
        layers.WSConv2d((2, 2), 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size must be a positive int or a pair"):
        layers.Conv2d(2, 4, kernel_size=0)
    with pytest.raises(ValueError, match=r"Conv2d: padding must be 'SAME', 'VALID'"):
        layers.Conv2d(2, 4, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv2d: padding must be"):
        layers.Conv2d(2, 4, 3, padding=-1)
    with pytest.raises(ValueError, match=r"Conv2d: weight holds 1 NaN"):
        w = np.ones((3, 3, 2, 4), np.float32)
        w[0, 0, 0, 0] = np.nan
        layers.Conv2d(2, 4, 3, weight=w)
    conv = layers.Conv2d(2, 4, 3, weight=w0)
    with pytest.raises(ValueError, match=r"Conv2d: input has shape \(1, 2, 5, 5\).*C = 2 \(NHWC\).*moveaxis"):
        conv(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"input has shape \(5, 5\)"):
        conv(np.ones((5, 5)))
    with pytest.raises(ValueError, match=r"WSConv2d: eps must be a non-negative float"):
        layers.WSConv2d(2, 4, 3, eps=-1.0)


def _np_pool(x, k, s, op):
    n, h, w, c = x.shape
    ho, wo = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    y = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            win = x[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1], :]
            y[:, i, j, :] = op(win, axis=(1, 2))
    return y


@pytest.mark.parametrize("k, s", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_pooling_equals_a_numpy_loop(k, s):
    x = np.random.default_rng(3).normal(size=(2, 7, 8, 3)).astype(np.float32)
    kk = k if isinstance(k, tuple) else (k, k)
    ss = kk if s is None else (s if isinstance(s, tuple) else (s, s))
    np.testing.assert_allclose(layers.AvgPool2d(k, s)(x), _np_pool(x, kk, ss, np.mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layers.MaxPool2d(k, s)(x), _np_pool(x, kk, ss, np.max), rtol=1e-6)


def test_pooling_same_padding_leading_axes_units_and_errors():
    x = np.random.default_rng(4).random((3, 2, 5, 5, 1)).astype(np.float32)   # (T, B, H, W, C)
    avg = layers.AvgPool2d(2, padding="SAME")(x)
    assert avg.shape == (3, 2, 3, 3, 1)
    # the last row/column windows hold the real pixels only (padding is not counted)
    np.testing.assert_allclose(avg[..., 2, 2, 0], x[..., 4, 4, 0], rtol=1e-6)
    np.testing.assert_allclose(avg[..., 0, 2, 0], x[..., 0:2, 4, 0].mean(-1), rtol=1e-6)
    q = layers.MaxPool2d(5)(x * u.mV)
    assert q.unit == u.mV
    np.testing.assert_allclose(q.mantissa[..., 0, 0, 0], x.max(axis=(2, 3, 4)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"AvgPool2d: the input's \(H, W\) = \(5, 5\) is smaller than the window"):
        layers.AvgPool2d(6)(x)
    with pytest.raises(ValueError, match=r"MaxPool2d: input has shape \(5, 5\).*\(\.\.\., H, W, C\)"):
        layers.MaxPool2d(2)(np.ones((5, 5)))
    with pytest.raises(ValueError, match=r"AvgPool2d: stride must be a positive int"):
        layers.AvgPool2d(2, stride=(1, 0))


def test_weight_standardisation_formula_and_its_gradient():
    rng = np.random.default_rng(5)
    w = rng.normal(2.0, 3.0, size=(3, 3, 4, 5)).astype(np.float32)
    conv = layers.WSConv2d(4, 5, 3, weight=w)
    conv.gain.value = jnp.arange(1.0, 6.0)
    k = np.asarray(conv.kernel(), np.float64)
    w64 = w.astype(np.float64).reshape(36, 5)
    ref = (w64 - w64.mean(0)) / np.sqrt(w64.var(0) * 36 + 1e-4) * np.arange(1.0, 6.0)
    np.testing.assert_allclose(k.reshape(36, 5), ref, rtol=1e-4, atol=1e-6)
    x = rng.normal(size=(2, 6, 6, 4)).astype(np.float32)
    np.testing.assert_allclose(conv(x), _np_conv(x.astype(np.float64), k, (1, 1), ((1, 1), (1, 1))),
                               rtol=1e-4, atol=1e-4)
    # gain and raw weights both train; the gradient agrees with central finite differences
    params = conv.states(brainsim.ParamState)
    assert sorted(params) == ["gain", "weight"]
    loss = lambda: jnp.sum(jnp.sin(conv(x)))  # noqa: E731
    loss_jit = brainsim.jit(loss)
    g = brainsim.jit(brainsim.grad(loss, params))()
    for key, idx in (("weight", (1, 2, 3, 0)), ("gain", (2,))):
        st, eps = params[key], 1e-2
        base = np.array(st.value, np.float64)
        vals = []
        for d in (eps, -eps):
            b = base.copy()
            b[idx] += d
            st.value = jnp.asarray(b, jnp.float32)
            vals.append(float(loss_jit()))
        st.value = jnp.asarray(base, jnp.float32)
        np.testing.assert_allclose(float(g[key][idx]), (vals[0] - vals[1]) / (2 * eps), rtol=2e-2, atol=1e-3)
    lin = layers.WSLinear(6, 3, weight=rng.normal(size=(6, 3)).astype(np.float32), gain=False)
    assert lin.gain is None
    xs = rng.normal(size=(4, 6)).astype(np.float32)
    wl = np.asarray(lin.weight.value, np.float64)
    ref = xs @ ((wl - wl.mean(0)) / np.sqrt(wl.var(0) * 6 + 1e-4))
    np.testing.assert_allclose(lin(xs), ref, rtol=1e-4, atol=1e-5)
