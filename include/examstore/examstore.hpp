// examstore/examstore.hpp: the umbrella header. Include it to get the whole public API.
#pragma once

#include "examstore/attempts.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/exam_repo.hpp"
#include "examstore/logging.hpp"
#include "examstore/metrics.hpp"
#include "examstore/model.hpp"
#include "examstore/paper_store.hpp"
#include "examstore/question_bank.hpp"
#include "examstore/store.hpp"
#include "examstore/student_repo.hpp"
#include "examstore/version.hpp"
#include "examstore/violation_repo.hpp"
#include "examstore/write_behind.hpp"
