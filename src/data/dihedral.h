// The 8 dihedral transforms of an H×W grid (REFERENCE.md §8.5), shared by ARC and mazes:
//   t  transform          out[i][j]               inverse
//   0  identity           A[i][j]                 0
//   1  rot90 CCW (W×H)    A[j][W−1−i]             3
//   2  rot180             A[H−1−i][W−1−j]         2
//   3  rot270 (W×H)       A[H−1−j][i]             1
//   4  flip left-right    A[i][W−1−j]             4
//   5  flip up-down       A[H−1−i][j]             5
//   6  transpose (W×H)    A[j][i]                 6
//   7  anti-transpose     A[H−1−j][W−1−i]         7
#pragma once

#include <vector>

namespace ponder {

constexpr int kDihedralInverse[8] = {0, 3, 2, 1, 4, 5, 6, 7};

inline bool dihedral_swaps_axes(int t) {
  return t == 1 || t == 3 || t == 6 || t == 7;
}

// `in` is H×W row-major; returns the transformed grid, which is W×H when the transform swaps axes.
template <class T>
std::vector<T> dihedral(const std::vector<T>& in, int H, int W, int t) {
  const int oh = dihedral_swaps_axes(t) ? W : H, ow = dihedral_swaps_axes(t) ? H : W;
  std::vector<T> out(in.size());
  for (int i = 0; i < oh; ++i)
    for (int j = 0; j < ow; ++j) {
      int r = i, c = j;
      switch (t) {
        case 1:
          r = j;
          c = W - 1 - i;
          break;
        case 2:
          r = H - 1 - i;
          c = W - 1 - j;
          break;
        case 3:
          r = H - 1 - j;
          c = i;
          break;
        case 4:
          c = W - 1 - j;
          break;
        case 5:
          r = H - 1 - i;
          break;
        case 6:
          r = j;
          c = i;
          break;
        case 7:
          r = H - 1 - j;
          c = W - 1 - i;
          break;
        default:
          break;
      }
      out[size_t(i * ow + j)] = in[size_t(r * W + c)];
    }
  return out;
}

}  // namespace ponder
