/*
 * nms_math.h - intersection over union of two boxes [x0,y0,x1,y1] (corners in
 * any order), as TF's non_max_suppression computes it: 0 when either box has
 * no area.
 */
#ifndef NMS_MATH_H
#define NMS_MATH_H

#include "kernels/lm_hd.h"

static inline LM_HD float op_box_iou(const float *a, const float *b)
{
    float ax0 = a[0] < a[2] ? a[0] : a[2], ax1 = a[0] < a[2] ? a[2] : a[0];
    float ay0 = a[1] < a[3] ? a[1] : a[3], ay1 = a[1] < a[3] ? a[3] : a[1];
    float bx0 = b[0] < b[2] ? b[0] : b[2], bx1 = b[0] < b[2] ? b[2] : b[0];
    float by0 = b[1] < b[3] ? b[1] : b[3], by1 = b[1] < b[3] ? b[3] : b[1];
    float aa = (ax1 - ax0) * (ay1 - ay0), ab = (bx1 - bx0) * (by1 - by0);
    if (aa <= 0.0f || ab <= 0.0f) {
        return 0.0f;
    }
    float ix0 = ax0 > bx0 ? ax0 : bx0, iy0 = ay0 > by0 ? ay0 : by0;
    float ix1 = ax1 < bx1 ? ax1 : bx1, iy1 = ay1 < by1 ? ay1 : by1;
    float iw = ix1 - ix0 > 0.0f ? ix1 - ix0 : 0.0f, ih = iy1 - iy0 > 0.0f ? iy1 - iy0 : 0.0f;
    float inter = iw * ih;
    return inter / (aa + ab - inter);
}

#endif
