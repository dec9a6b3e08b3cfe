/*
 * nms.c - greedy non-maximum suppression (TF's non_max_suppression as used by
 * face-api's detectors). Shapes: boxes [n][4], scores [n] -> keep [<= max_keep].
 */
#include "kernels/tf_nhwc.h"

#include "kernels/nms_math.h"

int op_nms_forward(int *keep, int *scratch, const float *boxes, const float *scores, int n,
                   float iou_thresh, int max_keep)
{
    /* Insertion sort by descending score, stable: n is small (candidates
     * above the score threshold). */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && scores[scratch[j - 1]] < scores[i]) {
            scratch[j] = scratch[j - 1];
            j--;
        }
        scratch[j] = i;
    }
    int nk = 0;
    for (int s = 0; s < n && nk < max_keep; s++) {
        int c = scratch[s], ok = 1;
        for (int k = 0; k < nk && ok; k++) {
            ok = !(op_box_iou(boxes + 4 * (size_t)c, boxes + 4 * (size_t)keep[k]) > iou_thresh);
        }
        if (ok) {
            keep[nk++] = c;
        }
    }
    return nk;
}
