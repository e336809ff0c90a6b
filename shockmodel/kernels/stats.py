"""numba kernels for the statistics of :mod:`shockmodel.aggregate` (L0: numpy + numba only).

:func:`order_stats` gives the exact order statistics and tail sums of many columns of draws in
streaming passes, without sorting or copying the draws: a copy and ``np.partition`` with the ~16 ranks
the risk metrics need cost ~17 ns per value (0.3 s per million draws and 16 regions), these ~3 ns.
:func:`scale_and_total` makes the percent losses and world totals in one pass, with numpy's numbers.
The histogram kernels replace Python loops over cells with the same arithmetic, so they return the
same numbers bit for bit. Conventions as in :mod:`shockmodel.kernels.propagate`: inputs first,
preallocated outputs last; every kernel releases the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: bins of the per-column key histogram (2^11, int32 counts: 8 KiB a column, cache-resident); a rank's
#: bin holds ~1/1000 of the draws for smooth data (speed hardly depends on it: 2^9 to 2^12 within 10%)
KEY_BITS = 11
_SIGN = np.uint64(0x8000000000000000)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_SMALL = 16          # ranges at most this long are finished by insertion sort
_MAX_ROUNDS = 64     # partition rounds before a (never seen) bad pivot sequence falls back to sorting


@njit(cache=True, nogil=True, inline="always")
def _key(bits):
    """Unsigned key with the order of the float64 whose bit pattern is ``bits`` (sign-magnitude to
    offset binary: flip every bit of a negative number, only the sign bit of a positive one)."""
    return bits ^ ((_ZERO - (bits >> np.uint64(63))) | _SIGN)


@njit(cache=True, nogil=True, inline="always")
def _neumaier_add(s, c, i, j, v):
    """``s[i, j] += v`` with Neumaier's compensation kept in ``c[i, j]`` (the sum is ``s + c``): tail
    sums of ~N/20 values in draw order stay as accurate as numpy's pairwise sum, or better."""
    t = s[i, j] + v
    if abs(s[i, j]) >= abs(v):
        c[i, j] += (s[i, j] - t) + v
    else:
        c[i, j] += (v - t) + s[i, j]
    s[i, j] = t


@njit(cache=True, nogil=True)
def _select(buf, lo, hi, k):
    """Move the ``k``-th smallest of ``buf[lo:hi + 1]`` to ``buf[k]``, smaller-or-equal values before
    it and greater-or-equal after (quickselect, median-of-three pivot, Hoare partition: ties split
    evenly, so all-equal ranges take linear time)."""
    rounds = 0
    while hi - lo > _SMALL:
        rounds += 1
        if rounds > _MAX_ROUNDS:
            buf[lo:hi + 1].sort()
            return
        mid = (lo + hi) >> 1
        if buf[mid] < buf[lo]:
            buf[mid], buf[lo] = buf[lo], buf[mid]
        if buf[hi] < buf[lo]:
            buf[hi], buf[lo] = buf[lo], buf[hi]
        if buf[hi] < buf[mid]:
            buf[hi], buf[mid] = buf[mid], buf[hi]
        pivot = buf[mid]
        i, j = lo, hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while pivot < buf[j]:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
        # now buf[lo:j+1] <= pivot, buf[i:hi+1] >= pivot and everything strictly between equals pivot
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return
    for i in range(lo + 1, hi + 1):   # insertion sort of the short rest
        v = buf[i]
        j = i - 1
        while j >= lo and v < buf[j]:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v


@njit(cache=True, nogil=True)
def column_moments(x, sums, mn, mx):
    """Pass 1 of :func:`order_stats`: per column ``x[a, :, b]`` of ``x`` (A, N, B), the sum in draw order
    and the smallest and largest value (NaN never wins a comparison; a NaN column has a NaN sum)."""
    A, N, B = x.shape
    for a in range(A):
        for b in range(B):
            sums[a, b] = 0.0
            mn[a, b] = x[a, 0, b]
            mx[a, b] = x[a, 0, b]
        for i in range(N):
            for b in range(B):
                v = x[a, i, b]
                sums[a, b] += v
                mn[a, b] = v if v < mn[a, b] else mn[a, b]
                mx[a, b] = v if v > mx[a, b] else mx[a, b]


#: longest row :func:`scale_and_total` sums (numpy's pairwise sum is one block up to 128 values)
PAIRWISE_BLOCK = 128


@njit(cache=True, nogil=True)
def _pairwise_sum(x, n):
    """Sum of ``x[:n]``, ``n <= PAIRWISE_BLOCK``, in the order of numpy's ``pairwise_sum`` for one block
    (sequential below 8 values, else eight interleaved accumulators added as a tree, then the rest),
    so row totals match ``np.sum`` bit for bit."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    i = 8
    while i < n - n % 8:
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def scale_and_total(x, f, out, totals, sums, mn, mx):
    """``out = x * f`` (``f`` over the last axis) and ``totals[a, i] = x[a, i, :].sum()`` of ``x``
    (A, N, B) in one pass, plus :func:`column_moments` of ``out``: the regional percent losses, the
    world total and pass 1 of their statistics without reading the draws three times. The same
    numbers as numpy's ``x * f`` and ``x.sum(axis=2)`` (products are exact IEEE operations; totals are
    summed in numpy's pairwise order, added to numpy's initial 0.0). Rows longer than
    ``PAIRWISE_BLOCK`` get no total (the caller sums them with numpy)."""
    A, N, B = x.shape
    row = np.empty(B)
    for a in range(A):
        for b in range(B):
            sums[a, b] = 0.0
            mn[a, b] = x[a, 0, b] * f[b]
            mx[a, b] = mn[a, b]
        for i in range(N):
            for b in range(B):
                row[b] = x[a, i, b]
                v = row[b] * f[b]
                out[a, i, b] = v
                sums[a, b] += v
                mn[a, b] = v if v < mn[a, b] else mn[a, b]
                mx[a, b] = v if v > mx[a, b] else mx[a, b]
            if B <= PAIRWISE_BLOCK:
                totals[a, i] = 0.0 + _pairwise_sum(row, B)


@njit(cache=True, nogil=True)
def order_stats(x, bits, sums, mn, mx, ranks, tails, moments, vals, tail_sums, sqdev):
    """Order statistics, tail sums and squared deviations of every column ``x[a, :, b]`` of ``x``
    (A, N, B), given its :func:`column_moments` ``sums``, ``mn``, ``mx`` (pass 1; finite columns only).

    ``vals[a, b, j]`` is the ``ranks[j]``-th smallest value (0-based; ``ranks`` ascending, distinct, at
    most 65534), exactly the value a full sort puts there, and ``tail_sums[a, b, t]`` the sum of the
    values of rank ``>= tails[t]`` (each ``tails[t]`` one of ``ranks``; at most 14 tails), with
    Neumaier's compensation. ``bits`` is ``x`` viewed as uint64. With ``moments``,
    ``sqdev[a, b]`` is the sum of squared deviations from ``sums / N`` added in draw order (with
    ``sums`` also in draw order, numpy's order for a reduction over axis 0 of a C-contiguous (N, B)
    array: mean and variance agree bit for bit with ``mean(axis=0)`` and ``einsum`` there).

    Two passes over the draws, row by row (contiguous memory), all columns at once. Pass 2: squared
    deviations and a histogram of each value's order-preserving integer key on ``2^KEY_BITS`` equal
    bins between the column's min and max; the cumulative counts give each rank's bin. Pass 3: the
    values of the bins that hold a rank are copied out (~1/1000 of the draws each for smooth data;
    every draw at worst, e.g. all equal) and those of the bins above a tail rank's bin summed; one
    table lookup per value says which. Quickselect inside each copied bin then gives the ranks and the
    rest of the tail sums.
    """
    A, N, B = x.shape
    K = ranks.size
    T = tails.size
    NB = 1 << KEY_BITS
    hist = np.empty((B, NB), np.int32)
    kmin = np.empty(B, np.uint64)
    shift = np.empty(B, np.uint64)
    sq = np.empty(B)
    mean = np.empty(B)
    scratch = np.empty(2)
    sbits = scratch.view(np.uint64)
    rbin = np.empty((B, K), np.int64)       # bin of each rank
    rpos = np.empty((B, K), np.int64)       # its position in the candidate buffer
    rslot = np.empty((B, K), np.int64)      # its bin's slot (0 .. slots - 1)
    slot_lo = np.empty((B, K + 1), np.int64)  # slot sl of column b is buf[slot_lo[b, sl]:slot_lo[b, sl + 1]]
    fill = np.empty((B, K), np.int64)
    tbin = np.empty((B, T), np.int64)
    ts = np.empty((B, T))
    tc = np.empty((B, T))                   # compensation of the tail sums
    tidx = np.zeros(T, np.int64)
    for t in range(T):
        for j in range(K):
            if ranks[j] == tails[t]:
                tidx[t] = j
    for a in range(A):
        for b in range(B):
            mean[b] = sums[a, b] / N
            scratch[0] = mn[a, b]
            scratch[1] = mx[a, b]
            kmin[b] = _key(sbits[0])
            span = _key(sbits[1]) - kmin[b]
            sh = _ZERO
            while (span >> sh) >= np.uint64(NB):
                sh += _ONE
            shift[b] = sh
        hist[:, :] = 0
        # pass 2: squared deviations and the key histogram
        sq[:] = 0.0
        if moments:
            for i in range(N):
                for b in range(B):
                    d = x[a, i, b] - mean[b]
                    sq[b] += d * d
                    hist[b, (_key(bits[a, i, b]) - kmin[b]) >> shift[b]] += 1
        else:
            for i in range(N):
                for b in range(B):
                    hist[b, (_key(bits[a, i, b]) - kmin[b]) >> shift[b]] += 1
        # bins of the ranks; a copied bin gets a slot, and the histogram becomes a map bin -> code
        total = 0
        for b in range(B):
            sqdev[a, b] = sq[b]
            below = 0
            j = 0
            for h in range(NB):
                c = np.int64(hist[b, h])
                while j < K and ranks[j] < below + c:
                    rbin[b, j] = h
                    rpos[b, j] = ranks[j] - below      # position inside the bin, made absolute below
                    j += 1
                below += c
            n_slots = 0
            slot_lo[b, 0] = total
            for j in range(K):
                if j == 0 or rbin[b, j] != rbin[b, j - 1]:
                    slot_lo[b, n_slots + 1] = slot_lo[b, n_slots] + hist[b, rbin[b, j]]
                    n_slots += 1
                rslot[b, j] = n_slots - 1
                rpos[b, j] += slot_lo[b, n_slots - 1]
            total = slot_lo[b, n_slots]
            for sl in range(n_slots):
                fill[b, sl] = slot_lo[b, sl]
            for t in range(T):
                tbin[b, t] = rbin[b, tidx[t]]
            # code per bin: slot + 1 in the low 16 bits (0: not copied), bit 16 + t: above tail t's bin
            for h in range(NB):
                code = 0
                for t in range(T):
                    if h > tbin[b, t]:
                        code |= 1 << (16 + t)
                hist[b, h] = code
            for j in range(K):
                hist[b, rbin[b, j]] |= rslot[b, j] + 1
        buf = np.empty(total)
        # pass 3: copy the values of the ranks' bins, sum the values of the bins above each tail bin
        ts[:, :] = 0.0
        tc[:, :] = 0.0
        for i in range(N):
            for b in range(B):
                v = x[a, i, b]
                code = hist[b, (_key(bits[a, i, b]) - kmin[b]) >> shift[b]]
                if code != 0:         # one test per value: most values are in no copied or tail bin
                    sl = (code & 0xFFFF) - 1
                    if sl >= 0:
                        buf[fill[b, sl]] = v
                        fill[b, sl] += 1
                    for t in range(T):
                        if code & (1 << (16 + t)):
                            _neumaier_add(ts, tc, b, t, v)
        # select inside each copied bin, ranks in ascending order (each search starts past the last)
        for b in range(B):
            start = 0
            for j in range(K):
                sl = rslot[b, j]
                if j == 0 or sl != rslot[b, j - 1]:
                    start = slot_lo[b, sl]
                _select(buf, start, slot_lo[b, sl + 1] - 1, rpos[b, j])
                vals[a, b, j] = buf[rpos[b, j]]
                start = rpos[b, j] + 1
            for t in range(T):
                j = tidx[t]
                for p in range(rpos[b, j], slot_lo[b, rslot[b, j] + 1]):
                    _neumaier_add(ts, tc, b, t, buf[p])
                tail_sums[a, b, t] = ts[b, t] + tc[b, t]


@njit(cache=True, nogil=True)
def hist_quantiles(counts, qs, lo, hi, rng, out):
    """Quantiles ``out[c, a]`` at levels ``qs[a]`` of histograms ``counts[c, bin]`` with bin edges
    ``lo``/``hi`` (see ``aggregate.hist_quantiles``): the first bin whose cumulative count reaches
    ``q * total`` (numpy's ``searchsorted(side="left")``, comparing the counts as float64), interpolated
    linearly inside it; bin 0 and empty histograms give 0. Only bin 0 and the cell's range
    ``rng[c] = [r0, r1)`` are read (every other bin must be empty: ``kernels.propagate.drain_counts``);
    the cumulative counts are constant outside it, so the bin found and the numbers are those of the
    reference loop over all bins."""
    C, NB = counts.shape
    cum = np.empty(NB, counts.dtype)     # integer counts: an integer prefix sum (exact, and fast)
    for c in range(C):
        r0 = max(rng[c, 0], 1)
        r1 = min(rng[c, 1], NB)
        acc = counts[c, 0]
        c0 = acc
        for b in range(r0, r1):
            acc += counts[c, b]
            cum[b] = acc
        total = acc
        for a in range(qs.size):
            out[c, a] = 0.0
        if total == 0:
            continue
        for a in range(qs.size):
            target = qs[a] * total
            if c0 >= target:          # bin 0 (the exact zeros) reaches it
                continue
            if r1 <= r0 or cum[r1 - 1] < target:
                b = NB - 1            # beyond every count (q > 1): the last bin, as searchsorted gives
                below = total - counts[c, NB - 1]
            else:
                left, right = r0, r1 - 1   # first index in the range with cum >= target
                while left < right:
                    m = (left + right) >> 1
                    if cum[m] < target:
                        left = m + 1
                    else:
                        right = m
                b = left
                below = cum[b - 1] if b > r0 else c0
            cnt = counts[c, b]
            frac = (target - below) / cnt if cnt else 0.0
            out[c, a] = lo[b] + min(max(frac, 0.0), 1.0) * (hi[b] - lo[b])


@njit(cache=True, nogil=True)
def hist_totals(counts, rng, out):
    """Number of values ``out[c]`` in each histogram ``counts[c]`` (bin 0 plus its range ``rng[c]``)."""
    C, NB = counts.shape
    for c in range(C):
        acc = counts[c, 0]
        for b in range(max(rng[c, 0], 1), min(rng[c, 1], NB)):
            acc += counts[c, b]
        out[c] = acc


@njit(cache=True, nogil=True)
def hist_expected_shortfall(counts, ks, lo, hi, rng, out):
    """Mean ``out[c]`` of the worst ``ks[c]`` values of histogram ``counts[c, bin]``, values spread
    evenly inside each bin (see ``aggregate.hist_expected_shortfall``; the same operations as its
    reference loop, over bin 0 and the cell's range ``rng[c]`` only); 0 for an empty histogram
    (``ks[c] == 0``)."""
    C, NB = counts.shape
    for c in range(C):
        k = ks[c]
        out[c] = 0.0
        if k == 0:
            continue
        need, total = k, 0.0
        r0 = max(rng[c, 0], 1)
        r1 = min(rng[c, 1], NB)
        width = max(r1 - r0, 0)
        for j in range(width + 1):
            b = r1 - 1 - j if j < width else 0    # the range from the top, then bin 0
            cnt = counts[c, b]
            if cnt == 0:
                continue
            take = min(cnt, need)
            total += take * (hi[b] - 0.5 * (take / cnt) * (hi[b] - lo[b]))
            need -= take
            if need == 0:
                break
        out[c] = total / k


# --- signed histograms (series that can fall as well as rise: the market channel) -------------------
#
# Layout of a signed histogram of ``2 * half + 1`` bins, in ascending order of value: bin ``half`` holds the
# exact zeros; bin ``half + j`` (j = 1 .. half) the positive values of log-bin ``j`` and bin ``half - j`` the
# negative values whose magnitude is in log-bin ``j``. Log-bin ``j`` of a magnitude is its float64 bit
# pattern shifted right by ``shift`` less ``first_key``, clipped to [1, half], as :func:`bit_histogram`
# in kernels.propagate (equal sub-bins per octave). So every bin is an interval ``[lo[i], hi[i]]`` with
# ``lo`` and ``hi`` ascending (``engine.signed_hist_edges``), and the statistics below are those of
# ordered bins. A cell's *range* ``[r0, r1)`` covers every bin it counted into (the zero bin included);
# ``ext[c] = (min, max)`` are the exact extremes, which bound every statistic taken from the bins.

@njit(cache=True, nogil=True)
def signed_histogram(values, n, shift, first_key, counts, rng, ext):
    """Count the first ``n`` rows of ``values`` (draws, cells) into signed histograms ``counts[c, bin]``
    (layout above), widen the ranges ``rng[c]`` (``(bins, 0)`` when empty) and the extremes ``ext[c]``
    (``(+inf, -inf)`` when empty). NaN is never counted (it would have no place in an ordered histogram;
    the streamed sums carry it into the mean)."""
    X = values.shape[1]
    half = (counts.shape[1] - 1) // 2
    mag = np.empty(1)
    bits = mag.view(np.int64)
    for b in range(n):
        for c in range(X):
            v = values[b, c]
            if v != v:
                continue
            if v == 0.0:
                i = half
            else:
                mag[0] = abs(v)
                j = min(max((bits[0] >> shift) - first_key, 1), half)
                i = half + j if v > 0.0 else half - j
            counts[c, i] += 1
            if i < rng[c, 0]:
                rng[c, 0] = i
            if i + 1 > rng[c, 1]:
                rng[c, 1] = i + 1
            if v < ext[c, 0]:
                ext[c, 0] = v
            if v > ext[c, 1]:
                ext[c, 1] = v


@njit(cache=True, nogil=True)
def add_signed_histograms(total, part, total_rng, part_rng, total_ext, part_ext):
    """``total += part`` over ``part``'s ranges (cells, bins), ranges joined, extremes widened."""
    for c in range(part.shape[0]):
        r0, r1 = part_rng[c, 0], min(part_rng[c, 1], part.shape[1])
        for i in range(r0, r1):
            total[c, i] += part[c, i]
        if r0 < r1:
            total_rng[c, 0] = min(total_rng[c, 0], r0)
            total_rng[c, 1] = max(total_rng[c, 1], r1)
        total_ext[c, 0] = min(total_ext[c, 0], part_ext[c, 0])
        total_ext[c, 1] = max(total_ext[c, 1], part_ext[c, 1])


@njit(cache=True, nogil=True)
def _order_stat(counts, c, r0, r1, lo, hi, rank):
    """Estimate of the ``rank``-th smallest value (0-based) of histogram ``counts[c]`` with ordered bins
    ``[lo[i], hi[i]]`` (range ``[r0, r1)``): inside the bin that holds that rank, at the middle of the rank's
    slot when the bin's values are spread evenly over it. Within one bin of the value itself."""
    below = 0
    i = r0
    while i < r1 - 1 and below + counts[c, i] <= rank:
        below += counts[c, i]
        i += 1
    cnt = counts[c, i]
    pos = (rank - below + 0.5) / cnt if cnt else 0.5
    return lo[i] + min(max(pos, 0.0), 1.0) * (hi[i] - lo[i])


@njit(cache=True, nogil=True)
def ordered_hist_quantiles(counts, qs, lo, hi, rng, ext, out):
    """Quantiles ``out[c, a]`` at levels ``qs[a]`` of histograms whose bins are ordered intervals
    ``[lo[i], hi[i]]``, by numpy's default (linear) definition: with ``N`` values and ``h = (N - 1) q``,
    the order statistics of ranks ``floor(h)`` and ``floor(h) + 1`` (:func:`_order_stat`, each within one
    bin of the draw's own) interpolated linearly; so the result is within one bin of numpy's quantile
    of the draws. Held inside the exact extremes ``ext[c]``; NaN for an empty histogram. Only the range
    ``rng[c]`` is read."""
    C = counts.shape[0]
    for c in range(C):
        r0, r1 = rng[c, 0], min(rng[c, 1], counts.shape[1])
        total = 0
        for i in range(r0, r1):
            total += counts[c, i]
        for a in range(qs.size):
            if total == 0:
                out[c, a] = np.nan
                continue
            h = (total - 1) * qs[a]
            k0 = min(max(np.int64(np.floor(h)), 0), total - 1)
            k1 = min(k0 + 1, total - 1)
            v0 = min(max(_order_stat(counts, c, r0, r1, lo, hi, k0), ext[c, 0]), ext[c, 1])
            v1 = min(max(_order_stat(counts, c, r0, r1, lo, hi, k1), ext[c, 0]), ext[c, 1])
            out[c, a] = v0 + (h - k0) * (v1 - v0)


@njit(cache=True, nogil=True)
def ordered_hist_expected_shortfall(counts, ks, lo, hi, rng, ext, out):
    """Mean ``out[c]`` of the largest ``ks[c]`` values of histograms with ordered bins ``[lo[i], hi[i]]``,
    values spread evenly inside each bin (as :func:`hist_expected_shortfall`), held inside the exact
    extremes ``ext[c]``; NaN for an empty histogram (``ks[c] == 0``)."""
    C = counts.shape[0]
    for c in range(C):
        k = ks[c]
        if k == 0:
            out[c] = np.nan
            continue
        need, total = k, 0.0
        r0, r1 = rng[c, 0], min(rng[c, 1], counts.shape[1])
        for i in range(r1 - 1, r0 - 1, -1):
            cnt = counts[c, i]
            if cnt == 0:
                continue
            take = min(cnt, need)
            total += take * (hi[i] - 0.5 * (take / cnt) * (hi[i] - lo[i]))
            need -= take
            if need == 0:
                break
        out[c] = min(max(total / k, ext[c, 0]), ext[c, 1])
