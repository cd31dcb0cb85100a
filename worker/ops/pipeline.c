/* SPDX-License-Identifier: MIT */

/*
 * image.pipeline, image.convert and image.optimize (see pipeline.h). The
 * table of steps by name is here: each step of a pipeline is checked
 * against its own schema ("steps[1].width: ...") before the input is opened.
 */

#include <errno.h>
#include <stdio.h>

#include "filters.h"
#include "geometry.h"
#include "macro.h"
#include "params.h"
#include "pipeline.h"
#include "step.h"

static const StepDef *const step_table[] = {
        &geometry_step_resize, &geometry_step_thumbnail, &geometry_step_crop,     &geometry_step_rotate,
        &geometry_step_flip,   &filters_step_filter,     &filters_step_watermark,
};

static const StepDef *step_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(step_table); i++)
                if (streq_ptr(step_table[i]->name, name))
                        return step_table[i];
        return NULL;
}

const ParamSpec pipeline_params[] = {
        PARAMS_INPUT,
        PARAMS_OUTPUT,
        {"steps", PARAM_ARRAY, true, RANGE(1, PIPELINE_MAX_STEPS)},
        {},
};
const ParamSpec pipeline_convert_params[] = {
        PARAMS_INPUT,
        PARAMS_OUTPUT,
        {"format", PARAM_STRING, true, .enums = params_formats_out}, /* here also required */
        {},
};
const ParamSpec pipeline_optimize_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, {}};

int pipeline_run(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        json_t *steps = json_object_get(params, "steps"), *item;
        StepRun runs[PIPELINE_MAX_STEPS];
        size_t i;

        /* Also checked by the schema; the array below depends on it. */
        if (!json_is_array(steps) || json_array_size(steps) < 1 ||
            json_array_size(steps) > PIPELINE_MAX_STEPS)
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "steps: must have between 1 and %d items", PIPELINE_MAX_STEPS);

        json_array_foreach (steps, i, item) {
                char prefix[64];
                const char *name = params_str(item, "op", params_str(item, "type", NULL));
                const StepDef *def;
                int r;

                snprintf(prefix, sizeof(prefix), "steps[%zu].", i);
                if (!json_is_object(item) || !name)
                        return task_failure_set(f, -EINVAL, "Params.Invalid",
                                                "steps[%zu]: must be an object with \"op\"", i);
                def = step_find(name);
                if (!def)
                        return task_failure_set(f, -EINVAL, "Params.Invalid",
                                                "steps[%zu].op: unknown step \"%.64s\"", i, name);
                r = params_validate(def->params, item, prefix, f);
                if (r < 0)
                        return r;
                if (def->check) {
                        r = def->check(item, prefix, f);
                        if (r < 0)
                                return r;
                }
                runs[i] = (StepRun){def, item};
        }
        return step_run(s, params, ctx, runs, json_array_size(steps), false, ret, f);
}

int pipeline_convert(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run(s, params, ctx, NULL, 0, /* optimize= */ false, ret, f);
}

int pipeline_optimize(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run(s, params, ctx, NULL, 0, /* optimize= */ true, ret, f);
}
