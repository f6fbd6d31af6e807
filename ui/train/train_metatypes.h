// The trainer's value types as Qt meta-types, so queued signals can carry them. Every
// header whose signals use them includes this one before moc sees them.
#pragma once

#include <QMetaType>

#include "train/trainer.h"

Q_DECLARE_METATYPE(dpowb::train::MetricPoint)
Q_DECLARE_METATYPE(dpowb::train::TrainResult)
Q_DECLARE_METATYPE(dpowb::train::TrainConfig)
Q_DECLARE_METATYPE(dpowb::store::HealthRow)

namespace dpowb::ui {
// Registers the types with their names for queued connections. Idempotent.
void registerTrainMetaTypes();
}  // namespace dpowb::ui
